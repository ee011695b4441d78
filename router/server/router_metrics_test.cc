#include "router/server/router_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace infernum::router {
namespace {

// Samples of an exposition text: "name{k=v,...}" (labels sorted, values
// unescaped) -> value. Comment lines are skipped.
std::map<std::string, double> ParseSamples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    std::string series = line.substr(0, space);
    const double value = std::stod(line.substr(space + 1));
    const size_t brace = series.find('{');
    if (brace != std::string::npos) {
      std::map<std::string, std::string> labels;
      size_t pos = brace + 1;
      while (pos < series.size() && series[pos] != '}') {
        const size_t eq = series.find('=', pos);
        std::string key = series.substr(pos, eq - pos);
        std::string val;
        size_t i = eq + 2;  // Past ="
        for (; series[i] != '"'; ++i) {
          if (series[i] == '\\') ++i;
          val += series[i];
        }
        labels[key] = val;
        pos = i + 1;
        if (series[pos] == ',') ++pos;
      }
      std::string canon = series.substr(0, brace) + "{";
      for (const auto& [k, v] : labels) canon += k + "=" + v + ",";
      series = canon + "}";
    }
    out[series] = value;
  }
  return out;
}

double Get(const std::map<std::string, double>& samples,
           const std::string& series) {
  auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

TEST(RouterMetricsTest, RequestsAndRejections) {
  metrics::Registry registry;
  RouterMetrics m(&registry, {});
  m.CountRequest("llama", 200, "round_robin");
  m.CountRequest("llama", 200, "round_robin");
  m.CountRequest("llama", 429, "round_robin");
  m.CountRequest("", 401, "");
  m.CountRejected("auth");
  m.CountRejected("rate_limit");
  m.CountRejected("rate_limit");
  const auto s = ParseSamples(m.Render());
  EXPECT_EQ(Get(s,
                "infernum_router:requests_total{model=llama,policy="
                "round_robin,status=200,}"),
            2);
  EXPECT_EQ(Get(s,
                "infernum_router:requests_total{model=llama,policy="
                "round_robin,status=429,}"),
            1);
  EXPECT_EQ(
      Get(s, "infernum_router:requests_total{model=,policy=,status=401,}"), 1);
  EXPECT_EQ(Get(s, "infernum_router:rejected_requests_total{reason=auth,}"), 1);
  EXPECT_EQ(
      Get(s, "infernum_router:rejected_requests_total{reason=rate_limit,}"), 2);
  // Reasons not seen yet are exported at 0 (so rate() works at once).
  EXPECT_EQ(Get(s, "infernum_router:rejected_requests_total{reason=draining,}"),
            0);
}

TEST(RouterMetricsTest, LatencyHistograms) {
  metrics::Registry registry;
  RouterMetrics m(&registry, {});
  m.ObserveTimeToFirstToken("llama", 0.05);
  m.ObserveTimeToFirstToken("llama", 0.15);
  m.ObserveInterTokenLatency("llama", 0.01);
  m.ObserveEndToEnd("qwen", 2.5);
  const auto s = ParseSamples(m.Render());
  EXPECT_EQ(
      Get(s, "infernum_router:time_to_first_token_seconds_count{model=llama,}"),
      2);
  EXPECT_DOUBLE_EQ(
      Get(s, "infernum_router:time_to_first_token_seconds_sum{model=llama,}"),
      0.2);
  EXPECT_EQ(
      Get(s, "infernum_router:inter_token_latency_seconds_count{model=llama,}"),
      1);
  EXPECT_EQ(
      Get(s, "infernum_router:e2e_request_latency_seconds_count{model=qwen,}"),
      1);
  EXPECT_EQ(
      Get(s,
          "infernum_router:e2e_request_latency_seconds_bucket{le=+Inf,model="
          "qwen,}"),
      1);
}

TEST(RouterMetricsTest, ScrapesWorkersCountersAndQueue) {
  std::vector<WorkerSample> workers = {
      {.worker = "a:1",
       .model = "llama",
       .healthy = true,
       .in_flight = 3,
       .ejections = 0},
      {.worker = "b:1",
       .model = "llama",
       .healthy = false,
       .in_flight = 0,
       .ejections = 2},
  };
  RouterCounters counters;
  int64_t queued = 4;
  metrics::Registry registry;
  RouterMetrics m(&registry, {.workers = [&] { return workers; },
                              .counters = &counters,
                              .queued = [&] { return queued; }});
  counters.retries = 5;
  counters.migrations = 1;
  auto s = ParseSamples(m.Render());
  EXPECT_EQ(Get(s, "infernum_router:worker_in_flight{model=llama,worker=a:1,}"),
            3);
  EXPECT_EQ(Get(s, "infernum_router:worker_healthy{model=llama,worker=a:1,}"),
            1);
  EXPECT_EQ(Get(s, "infernum_router:worker_healthy{model=llama,worker=b:1,}"),
            0);
  EXPECT_EQ(Get(s, "infernum_router:worker_ejections_total{worker=b:1,}"), 2);
  EXPECT_EQ(Get(s, "infernum_router:retries_total"), 5);
  EXPECT_EQ(Get(s, "infernum_router:migrations_total"), 1);
  EXPECT_EQ(Get(s, "infernum_router:stalls_total"), 0);
  EXPECT_EQ(Get(s, "infernum_router:queued_requests"), 4);

  // Counters follow their sources; a removed worker's gauges drop to 0.
  counters.retries = 7;
  counters.stalls = 2;
  workers[1].ejections = 3;
  workers.erase(workers.begin());
  queued = 0;
  s = ParseSamples(m.Render());
  EXPECT_EQ(Get(s, "infernum_router:retries_total"), 7);
  EXPECT_EQ(Get(s, "infernum_router:stalls_total"), 2);
  EXPECT_EQ(Get(s, "infernum_router:worker_ejections_total{worker=b:1,}"), 3);
  EXPECT_EQ(Get(s, "infernum_router:worker_in_flight{model=llama,worker=a:1,}"),
            0);
  EXPECT_EQ(Get(s, "infernum_router:worker_healthy{model=llama,worker=a:1,}"),
            0);
  EXPECT_EQ(Get(s, "infernum_router:queued_requests"), 0);
  // A worker re-added with a fresh count does not make the counter go
  // backwards.
  workers[0].ejections = 1;
  s = ParseSamples(m.Render());
  EXPECT_EQ(Get(s, "infernum_router:worker_ejections_total{worker=b:1,}"), 3);
  workers[0].ejections = 2;
  s = ParseSamples(m.Render());
  EXPECT_EQ(Get(s, "infernum_router:worker_ejections_total{worker=b:1,}"), 4);
}

}  // namespace
}  // namespace infernum::router
