// WorkerMetrics (names, engine-stats mirroring, per-request recording) and
// MetricsHttpServer (GET /metrics over HTTP), without a model.
#include "worker/server/worker_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>
#include <string>

#include "worker/server/metrics_http_server.h"
#include "worker/server/metrics_test_util.h"

namespace infernum::worker {
namespace {

using testing::ParseWithPrometheusClient;
using testing::ScrapedMetrics;

// A stats source the test can change between scrapes.
struct FakeEngine {
  std::mutex mu;
  EngineStats stats;
  EngineStats Get() {
    std::lock_guard<std::mutex> lock(mu);
    return stats;
  }
};

ScrapedMetrics Scrape(const WorkerMetrics& metrics) {
  auto parsed = ParseWithPrometheusClient(metrics.Render());
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return ScrapedMetrics(parsed.ok() ? *parsed
                                    : std::vector<testing::ParsedFamily>{});
}

TEST(WorkerMetricsTest, EveryContractSeriesExistsWithItsType) {
  FakeEngine engine;
  WorkerMetrics metrics("m", [&] { return engine.Get(); });
  const ScrapedMetrics m = Scrape(metrics);
  const std::map<std::string, std::string> want = {
      {"infernum:num_requests_running", "gauge"},
      {"infernum:num_requests_waiting", "gauge"},
      {"infernum:kv_cache_usage_perc", "gauge"},
      {"infernum:prompt_tokens_total", "counter"},
      {"infernum:generation_tokens_total", "counter"},
      {"infernum:num_preemptions_total", "counter"},
      {"infernum:prefix_cache_queries_total", "counter"},
      {"infernum:prefix_cache_hits_total", "counter"},
      {"infernum:request_success_total", "counter"},
      {"infernum:time_to_first_token_seconds", "histogram"},
      {"infernum:inter_token_latency_seconds", "histogram"},
      {"infernum:e2e_request_latency_seconds", "histogram"},
      {"infernum:request_queue_time_seconds", "histogram"},
  };
  EXPECT_EQ(m.families().size(), want.size());
  for (const auto& [name, type] : want) {
    EXPECT_EQ(m.TypeOf(name), type) << name;
  }
  for (const auto& family : m.families()) {
    EXPECT_FALSE(family.help.empty()) << family.name;
    for (const auto& sample : family.samples) {
      EXPECT_EQ(sample.labels.at("model_name"), "m") << sample.name;
    }
  }
  for (const char* reason : {"stop", "length", "abort"}) {
    EXPECT_EQ(m.Value("infernum:request_success_total",
                      {{"model_name", "m"}, {"finished_reason", reason}}),
              0);
  }
}

TEST(WorkerMetricsTest, MirrorsEngineStatsAtEachScrape) {
  FakeEngine engine;
  WorkerMetrics metrics("llama", [&] { return engine.Get(); });
  const std::map<std::string, std::string> l = {{"model_name", "llama"}};
  engine.stats.num_running = 3;
  engine.stats.num_waiting = 2;
  engine.stats.kv_cache_usage = 0.25;
  engine.stats.prompt_tokens_total = 100;
  engine.stats.generation_tokens_total = 50;
  engine.stats.num_preemptions = 1;
  engine.stats.prefix_cache_queries = 80;
  engine.stats.prefix_cache_hits = 32;
  ScrapedMetrics m = Scrape(metrics);
  EXPECT_EQ(m.Value("infernum:num_requests_running", l), 3);
  EXPECT_EQ(m.Value("infernum:num_requests_waiting", l), 2);
  EXPECT_EQ(m.Value("infernum:kv_cache_usage_perc", l), 0.25);
  EXPECT_EQ(m.Value("infernum:prompt_tokens_total", l), 100);
  EXPECT_EQ(m.Value("infernum:generation_tokens_total", l), 50);
  EXPECT_EQ(m.Value("infernum:num_preemptions_total", l), 1);
  EXPECT_EQ(m.Value("infernum:prefix_cache_queries_total", l), 80);
  EXPECT_EQ(m.Value("infernum:prefix_cache_hits_total", l), 32);

  engine.stats.num_running = 0;
  engine.stats.generation_tokens_total = 70;
  m = Scrape(metrics);
  EXPECT_EQ(m.Value("infernum:num_requests_running", l), 0);
  EXPECT_EQ(m.Value("infernum:generation_tokens_total", l), 70);
  EXPECT_EQ(m.Value("infernum:prompt_tokens_total", l), 100);  // Unchanged.

  // A total that goes down (an engine reset) never makes a counter go down;
  // growth after it is counted from the new base.
  engine.stats.generation_tokens_total = 5;
  EXPECT_EQ(Scrape(metrics).Value("infernum:generation_tokens_total", l), 70);
  engine.stats.generation_tokens_total = 9;
  EXPECT_EQ(Scrape(metrics).Value("infernum:generation_tokens_total", l), 74);
}

FinalOutput Finished(FinishReason reason, double ttft, std::vector<double> itl,
                     double e2e, double queue) {
  FinalOutput f;
  f.finish_reason = reason;
  f.timings.time_to_first_token = ttft;
  f.timings.inter_token_latencies = std::move(itl);
  f.timings.e2e_latency = e2e;
  f.timings.queue_time = queue;
  return f;
}

TEST(WorkerMetricsTest, RecordsFinishedRequests) {
  FakeEngine engine;
  WorkerMetrics metrics("m", [&] { return engine.Get(); });
  metrics.RecordFinish(
      Finished(FinishReason::kStop, 0.1, {0.01, 0.02}, 0.5, 0.05));
  metrics.RecordFinish(Finished(FinishReason::kLength, 0.3, {2.0}, 3.0, 0.0));
  // Aborted before its first token: counted, but no latency sample.
  metrics.RecordFinish(Finished(FinishReason::kAbort, -1, {}, 9.0, 0));
  metrics.RecordFinish(Finished(FinishReason::kError, -1, {}, 1.0, 0));
  const ScrapedMetrics m = Scrape(metrics);
  auto success = [&](const char* reason) {
    return m.Value("infernum:request_success_total",
                   {{"model_name", "m"}, {"finished_reason", reason}});
  };
  EXPECT_EQ(success("stop"), 1);
  EXPECT_EQ(success("length"), 1);
  EXPECT_EQ(success("abort"), 1);
  EXPECT_EQ(success("error"), 1);
  const std::map<std::string, std::string> l = {{"model_name", "m"}};
  auto hist = [&](const std::string& name, const char* suffix) {
    return m.Value("infernum:" + name + suffix, l);
  };
  EXPECT_EQ(hist("time_to_first_token_seconds", "_count"), 2);
  EXPECT_NEAR(hist("time_to_first_token_seconds", "_sum"), 0.4, 1e-12);
  EXPECT_EQ(hist("inter_token_latency_seconds", "_count"), 3);
  EXPECT_NEAR(hist("inter_token_latency_seconds", "_sum"), 2.03, 1e-12);
  EXPECT_EQ(hist("e2e_request_latency_seconds", "_count"), 2);
  EXPECT_NEAR(hist("e2e_request_latency_seconds", "_sum"), 3.5, 1e-12);
  EXPECT_EQ(hist("request_queue_time_seconds", "_count"), 2);
  // Bucket le=0.25 of TTFT holds 0.1 but not 0.3.
  EXPECT_EQ(m.Value("infernum:time_to_first_token_seconds_bucket",
                    {{"model_name", "m"}, {"le", "0.25"}}),
            1);
}

TEST(MetricsHttpServerTest, ServesTheRegistryOnGetMetrics) {
  metrics::Registry registry;
  metrics::Counter* c =
      registry.AddCounter("x_total", "X.", {"k"}).WithLabels({"v"});
  c->Increment(7);
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(),
            "127.0.0.1:" + std::to_string((*server)->port()));
  auto got = testing::HttpGet("127.0.0.1", (*server)->port(), "/metrics");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->content_type, metrics::kContentType);
  EXPECT_EQ(got->body, registry.Render());
  c->Increment(1);  // Every GET renders afresh.
  got = testing::HttpGet("127.0.0.1", (*server)->port(), "/metrics");
  ASSERT_TRUE(got.ok());
  EXPECT_NE(got->body.find("x_total{k=\"v\"} 8"), std::string::npos);
  got = testing::HttpGet("127.0.0.1", (*server)->port(), "/other");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, 404);
  (*server)->Stop();
  (*server)->Stop();  // Idempotent.
  EXPECT_FALSE(
      testing::HttpGet("127.0.0.1", (*server)->port(), "/metrics").ok());
}

TEST(MetricsHttpServerTest, BadOrBusyAddressIsAnError) {
  metrics::Registry registry;
  for (const char* bad : {"nohost", ":80", "h:99999", "h:x"}) {
    auto server = MetricsHttpServer::Start(bad, &registry);
    ASSERT_FALSE(server.ok()) << bad;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto first = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok());
  auto second = MetricsHttpServer::Start(
      "127.0.0.1:" + std::to_string((*first)->port()), &registry);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetricsHttpServerTest, StopRightAfterStartDoesNotHang) {
  metrics::Registry registry;
  for (int i = 0; i < 20; ++i) {
    auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
    ASSERT_TRUE(server.ok());
  }  // Destructor: Stop() before the thread may have entered its loop.
}

}  // namespace
}  // namespace infernum::worker
