#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace infernum::metrics {
namespace {

// The lines of `text` that start with `prefix`.
std::vector<std::string> LinesStartingWith(const std::string& text,
                                           const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

TEST(CounterTest, ManyThreadsLoseNoIncrement) {
  constexpr int kNumThreads = 8;
  constexpr int kPerThread = 20000;
  Counter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < kNumThreads; ++t) {
    threads.emplace_back([&counter, t] {
      // 0.5 and 1.5 are exact in binary, so the total is exact.
      for (int i = 0; i < kPerThread; ++i) counter.Increment(t % 2 ? 1.5 : 0.5);
    });
  }
  for (auto& thread : threads) thread.join();
  double expected = 0;
  for (int t = 0; t < kNumThreads; ++t) {
    expected += kPerThread * (t % 2 ? 1.5 : 0.5);
  }
  EXPECT_EQ(counter.value(), expected);
}

TEST(GaugeTest, SetAndConcurrentAdd) {
  Gauge gauge;
  gauge.Set(10);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&gauge] {
      for (int i = 0; i < 10000; ++i) {
        gauge.Add(1);
        gauge.Add(-1);
      }
      gauge.Add(2);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(gauge.value(), 18);
  gauge.Set(-3.25);
  EXPECT_EQ(gauge.value(), -3.25);
}

TEST(HistogramTest, BucketsAreCumulativeAndMatchBruteForce) {
  const std::vector<double> bounds = LatencyBuckets();
  Histogram histogram(bounds);
  std::mt19937 rng(7);
  std::lognormal_distribution<double> dist(-2.0, 2.5);
  std::vector<double> values;
  for (int i = 0; i < 5000; ++i) values.push_back(dist(rng));
  values.insert(values.end(), bounds.begin(), bounds.end());  // On a bound.
  values.push_back(1e9);                                      // Past all.
  for (double v : values) histogram.Observe(v);

  Histogram::Snapshot snap = histogram.Read();
  ASSERT_EQ(snap.bounds, bounds);
  ASSERT_EQ(snap.cumulative.size(), bounds.size() + 1);
  double sum = 0;
  for (double v : values) sum += v;
  EXPECT_NEAR(snap.sum, sum, 1e-9 * sum);
  EXPECT_EQ(snap.count, values.size());
  for (size_t i = 0; i < bounds.size(); ++i) {
    uint64_t le = 0;  // Prometheus buckets are "less than or equal".
    for (double v : values) le += v <= bounds[i] ? 1 : 0;
    EXPECT_EQ(snap.cumulative[i], le) << "bound " << bounds[i];
    if (i > 0) {
      EXPECT_GE(snap.cumulative[i], snap.cumulative[i - 1]);
    }
  }
  EXPECT_EQ(snap.cumulative.back(), values.size());
}

TEST(HistogramTest, LatencyBucketsAreStrictlyIncreasing) {
  std::vector<double> bounds = LatencyBuckets();
  ASSERT_GE(bounds.size(), 10u);
  for (size_t i = 1; i < bounds.size(); ++i)
    EXPECT_LT(bounds[i - 1], bounds[i]);
}

TEST(FamilyTest, WithLabelsReturnsOneStableChildPerValueSet) {
  Registry registry;
  Family<Counter>& family = registry.AddCounter("c_total", "h", {"a", "b"});
  Counter* x = family.WithLabels({"1", "2"});
  Counter* y = family.WithLabels({"2", "1"});
  EXPECT_NE(x, y);
  for (int i = 0; i < 100; ++i)
    family.WithLabels({"x" + std::to_string(i), ""});
  EXPECT_EQ(family.WithLabels({"1", "2"}), x);
  EXPECT_EQ(family.Children().size(), 102u);
}

TEST(RegistryTest, RendersLabelledSamplesWithEscaping) {
  Registry registry;
  Family<Counter>& family =
      registry.AddCounter("infernum:x_total", "Help with \\ and\nnewline.",
                          {"model_name", "reason"});
  family.WithLabels({"a\"b\\c\nd", "stop"})->Increment(3);
  std::string text = registry.Render();
  EXPECT_EQ(LinesStartingWith(text, "# HELP infernum:x_total"),
            std::vector<std::string>{
                "# HELP infernum:x_total Help with \\\\ and\\nnewline."});
  EXPECT_EQ(LinesStartingWith(text, "# TYPE infernum:x_total"),
            std::vector<std::string>{"# TYPE infernum:x_total counter"});
  EXPECT_EQ(LinesStartingWith(text, "infernum:x_total{"),
            std::vector<std::string>{
                "infernum:x_total{model_name=\"a\\\"b\\\\c\\nd\","
                "reason=\"stop\"} 3"});
}

TEST(RegistryTest, RendersHistogramSeries) {
  Registry registry;
  Family<Histogram>& family =
      registry.AddHistogram("lat_seconds", "L.", {"m"}, {0.5, 2});
  Histogram* h = family.WithLabels({"q"});
  h->Observe(0.25);
  h->Observe(0.5);
  h->Observe(3);
  std::string text = registry.Render();
  EXPECT_EQ(
      LinesStartingWith(text, "lat_seconds_bucket"),
      (std::vector<std::string>{"lat_seconds_bucket{m=\"q\",le=\"0.5\"} 2",
                                "lat_seconds_bucket{m=\"q\",le=\"2\"} 2",
                                "lat_seconds_bucket{m=\"q\",le=\"+Inf\"} 3"}));
  EXPECT_EQ(LinesStartingWith(text, "lat_seconds_sum"),
            std::vector<std::string>{"lat_seconds_sum{m=\"q\"} 3.75"});
  EXPECT_EQ(LinesStartingWith(text, "lat_seconds_count"),
            std::vector<std::string>{"lat_seconds_count{m=\"q\"} 3"});
}

TEST(RegistryTest, UnlabelledFamiliesShowZeroAndSpecialValues) {
  Registry registry;
  registry.AddCounter("zero_total", "Z.", {});
  Family<Gauge>& gauges = registry.AddGauge("g", "G.", {"k"});
  gauges.WithLabels({"nan"})->Set(std::nan(""));
  gauges.WithLabels({"inf"})->Set(std::numeric_limits<double>::infinity());
  gauges.WithLabels({"ninf"})->Set(-std::numeric_limits<double>::infinity());
  gauges.WithLabels({"small"})->Set(1e-300);
  std::string text = registry.Render();
  EXPECT_EQ(LinesStartingWith(text, "zero_total"),
            std::vector<std::string>{"zero_total 0"});
  EXPECT_EQ(LinesStartingWith(text, "g{"),
            (std::vector<std::string>{"g{k=\"inf\"} +Inf", "g{k=\"nan\"} NaN",
                                      "g{k=\"ninf\"} -Inf",
                                      "g{k=\"small\"} 1e-300"}));
}

TEST(RegistryTest, FamiliesRenderInRegistrationOrder) {
  Registry registry;
  registry.AddGauge("zzz", "first", {});
  registry.AddCounter("aaa_total", "second", {});
  registry.AddHistogram("mmm", "third", {}, {1});
  std::vector<std::string> types =
      LinesStartingWith(registry.Render(), "# TYPE");
  EXPECT_EQ(types, (std::vector<std::string>{"# TYPE zzz gauge",
                                             "# TYPE aaa_total counter",
                                             "# TYPE mmm histogram"}));
}

TEST(RegistryTest, ScrapeHooksRunBeforeEachRender) {
  Registry registry;
  Gauge* gauge = registry.AddGauge("running", "R.", {"m"}).WithLabels({"x"});
  int source = 0;
  registry.AddScrapeHook([&] { gauge->Set(source); });
  source = 4;
  EXPECT_EQ(LinesStartingWith(registry.Render(), "running{"),
            std::vector<std::string>{"running{m=\"x\"} 4"});
  source = 9;
  EXPECT_EQ(LinesStartingWith(registry.Render(), "running{"),
            std::vector<std::string>{"running{m=\"x\"} 9"});
}

TEST(RegistryTest, RenderWhileUpdatingFromThreads) {
  Registry registry;
  Family<Counter>& counters = registry.AddCounter("n_total", "N.", {"t"});
  Family<Histogram>& hists = registry.AddHistogram("h", "H.", {"t"}, {1, 2});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        // New children appear while Render() iterates.
        counters.WithLabels({std::to_string(t * 10000 + i % 50)})->Increment();
        hists.WithLabels({std::to_string(t)})->Observe(i % 3);
      }
    });
  }
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(registry.Render().empty());
  for (auto& thread : threads) thread.join();
  double total = 0;
  for (const auto& [labels, counter] : counters.Children()) {
    total += counter->value();
  }
  EXPECT_EQ(total, 4 * 2000);
  for (const auto& [labels, hist] : hists.Children()) {
    EXPECT_EQ(hist->Read().count, 2000u);
  }
}

using RegistryDeathTest = ::testing::Test;

TEST(RegistryDeathTest, BadNamesAndMisuseAreProgrammerErrors) {
  EXPECT_DEATH(Registry().AddCounter("9starts_with_digit", "h", {}),
               "bad metric name");
  EXPECT_DEATH(Registry().AddGauge("has-dash", "h", {}), "bad metric name");
  EXPECT_DEATH(Registry().AddGauge("", "h", {}), "bad metric name");
  EXPECT_DEATH(Registry().AddGauge("ok", "h", {"a:b"}), "bad label name");
  EXPECT_DEATH(Registry().AddGauge("ok", "h", {"__reserved"}), "reserved");
  EXPECT_DEATH(Registry().AddGauge("ok", "h", {"a", "a"}), "duplicate label");
  EXPECT_DEATH(Registry().AddHistogram("ok", "h", {"le"}, {1}), "'le'");
  EXPECT_DEATH(Registry().AddHistogram("ok", "h", {}, {2, 1}),
               "strictly increasing");
  EXPECT_DEATH(
      {
        Registry registry;
        registry.AddGauge("twice", "h", {});
        registry.AddCounter("twice", "h", {});
      },
      "registered twice");
  EXPECT_DEATH(Registry().AddGauge("ok", "h", {"a"}).WithLabels({}),
               "label values");
  EXPECT_DEATH(Counter().Increment(-1), ">= 0");
}

TEST(RegistryTest, ValidNamesAreAccepted) {
  Registry registry;
  registry.AddCounter("infernum:prompt_tokens_total", "h", {"model_name"});
  registry.AddGauge("_x:y_9", "h", {"_a1", "B"});
  EXPECT_NE(registry.Render().find("# TYPE _x:y_9 gauge"), std::string::npos);
}

}  // namespace
}  // namespace infernum::metrics
