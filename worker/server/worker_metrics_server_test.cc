// The worker's /metrics endpoint end to end: an in-process WorkerServer on
// stories260K with metrics_listen 127.0.0.1:0, real gRPC requests, a scrape
// over HTTP parsed by Debian's python3-prometheus-client. The counters must
// move by what the clients observed (tokens streamed, usage in the finals,
// the number of requests) and agree with GetLoad.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "worker/server/metrics_test_util.h"
#include "worker/server/server_test_util.h"

namespace infernum::worker::testing {
namespace {

using Labels = std::map<std::string, std::string>;

ScrapedMetrics ScrapeOrDie(const WorkerServer& server) {
  auto got = HttpGet("127.0.0.1", server.metrics_port(), "/metrics");
  EXPECT_TRUE(got.ok()) << got.status();
  if (!got.ok()) return ScrapedMetrics({});
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->content_type, "text/plain; version=0.0.4; charset=utf-8");
  auto parsed = ParseWithPrometheusClient(got->body);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return ScrapedMetrics(parsed.ok() ? *parsed : std::vector<ParsedFamily>{});
}

// Scrapes until the engine gauges show no running or waiting request. The
// gauges and the token counters come from one engine-stats snapshot, taken
// after each engine step; a request with max_tokens >= 2 runs for at least
// one step before the step that finishes it, so once every client has its
// final message, a snapshot with nothing running is the one after the last
// finish (an older one would still show the request).
ScrapedMetrics ScrapeWhenIdle(const WorkerServer& server,
                              const std::string& model) {
  const Labels l = {{"model_name", model}};
  ScrapedMetrics m = ScrapeOrDie(server);
  for (int i = 0; i < 500; ++i) {
    if (m.Value("infernum:num_requests_running", l) == 0 &&
        m.Value("infernum:num_requests_waiting", l) == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = ScrapeOrDie(server);
  }
  return m;
}

v1::LoadReport GetLoad(v1::Worker::Stub& stub) {
  grpc::ClientContext context;
  v1::LoadReport report;
  EXPECT_TRUE(stub.GetLoad(&context, v1::GetLoadRequest(), &report).ok());
  return report;
}

TEST(WorkerMetricsServerTest, CountersMoveByWhatTheClientsSaw) {
  WorkerConfig config = StoriesConfig();
  config.metrics_listen = "127.0.0.1:0";
  auto started = WorkerServer::Start(config);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<WorkerServer> server = std::move(*started);
  ASSERT_GT(server->metrics_port(), 0);
  const std::string model = server->model_name();
  const Labels l = {{"model_name", model}};
  auto stub = MakeStub(*server);
  const ScrapedMetrics before = ScrapeWhenIdle(*server, model);
  const v1::LoadReport load_before = GetLoad(*stub);

  // Distinct prompts, then one 40-token prompt twice (prefix-cache hits).
  std::vector<v1::GenerateRequest> requests;
  const std::vector<int> max_tokens = {5, 8, 13, 21};
  for (size_t i = 0; i < max_tokens.size(); ++i) {
    requests.push_back(GreedyRequest("r" + std::to_string(i),
                                     {1, static_cast<int32_t>(100 + i), 7},
                                     max_tokens[i]));
  }
  const std::vector<int32_t> shared(40, 301);
  requests.push_back(GreedyRequest("s1", shared, 4));
  requests.push_back(GreedyRequest("s2", shared, 4));
  int64_t prompt_tokens = 0, streamed = 0, completion = 0, cached = 0;
  int64_t intervals = 0;
  for (v1::GenerateRequest& r : requests) {
    r.set_ignore_eos(true);  // Every request ends with "length".
    const GenerateResult got = RunGenerate(*stub, r);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    ASSERT_EQ(got.final_message.finish_reason(), v1::FINISH_REASON_LENGTH);
    prompt_tokens += r.prompt_token_ids_size();
    streamed += static_cast<int64_t>(got.token_ids.size());
    completion += got.final_message.completion_tokens();
    cached += got.final_message.cached_prompt_tokens();
    intervals += r.max_tokens() - 1;
  }
  EXPECT_EQ(streamed, completion);
  EXPECT_GT(cached, 0);  // s2 reused s1's blocks.
  const int64_t n = static_cast<int64_t>(requests.size());

  const ScrapedMetrics after = ScrapeWhenIdle(*server, model);
  auto delta = [&](const std::string& name, Labels labels) {
    return after.Value(name, labels) - before.Value(name, labels);
  };
  EXPECT_EQ(delta("infernum:generation_tokens_total", l), streamed);
  EXPECT_EQ(delta("infernum:prompt_tokens_total", l), prompt_tokens);
  auto reason = [&](const char* r) {
    return Labels{{"model_name", model}, {"finished_reason", r}};
  };
  EXPECT_EQ(delta("infernum:request_success_total", reason("length")), n);
  EXPECT_EQ(delta("infernum:request_success_total", reason("stop")), 0);
  EXPECT_EQ(delta("infernum:request_success_total", reason("abort")), 0);
  for (const char* h :
       {"time_to_first_token", "e2e_request_latency", "request_queue_time"}) {
    const std::string name = std::string("infernum:") + h + "_seconds";
    EXPECT_EQ(delta(name + "_count", l), n) << name;
    EXPECT_EQ(delta(name + "_bucket", {{"model_name", model}, {"le", "+Inf"}}),
              n)
        << name;
  }
  EXPECT_EQ(delta("infernum:inter_token_latency_seconds_count", l), intervals);
  // Each request's e2e latency includes its time to first token.
  EXPECT_GE(delta("infernum:e2e_request_latency_seconds_sum", l),
            delta("infernum:time_to_first_token_seconds_sum", l));

  // Prefix cache and preemptions agree with the clients and with GetLoad.
  const v1::LoadReport load_after = GetLoad(*stub);
  EXPECT_EQ(delta("infernum:prefix_cache_hits_total", l), cached);
  EXPECT_EQ(
      delta("infernum:prefix_cache_queries_total", l),
      load_after.prefix_cache_queries() - load_before.prefix_cache_queries());
  EXPECT_GE(delta("infernum:prefix_cache_queries_total", l), cached);
  EXPECT_EQ(delta("infernum:num_preemptions_total", l),
            load_after.num_preemptions() - load_before.num_preemptions());
  EXPECT_EQ(after.Value("infernum:num_requests_running", l), 0);
  EXPECT_EQ(after.Value("infernum:num_requests_waiting", l), 0);
  EXPECT_FLOAT_EQ(after.Value("infernum:kv_cache_usage_perc", l),
                  load_after.kv_cache_usage());
}

// Two long requests that cannot both fit the KV cache: the engine must
// preempt, and num_preemptions_total shows it.
TEST(WorkerMetricsServerTest, PreemptionsAreCounted) {
  WorkerConfig config = LongContextDummyConfig();
  config.metrics_listen = "127.0.0.1:0";
  // 160 blocks of 16 tokens; each request grows to 1003 tokens (63 blocks),
  // so four of them started together cannot all fit.
  config.kv_cache_memory = 160 * 20480;
  auto started = WorkerServer::Start(config);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<WorkerServer> server = std::move(*started);
  ASSERT_EQ(server->engine_config().num_blocks, 160);
  std::vector<GenerateResult> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto stub = MakeStub(*server);
      v1::GenerateRequest r =
          GreedyRequest("long" + std::to_string(i), {1, 300, 301}, 1000);
      r.set_ignore_eos(true);
      results[i] = RunGenerate(*stub, r);
    });
  }
  for (auto& t : threads) t.join();
  for (const GenerateResult& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.token_ids.size(), 1000u);
  }
  auto stub = MakeStub(*server);
  const v1::LoadReport load = WaitForIdleLoad(*stub);
  const ScrapedMetrics m = ScrapeWhenIdle(*server, server->model_name());
  const Labels l = {{"model_name", server->model_name()}};
  EXPECT_GT(load.num_preemptions(), 0);
  EXPECT_EQ(m.Value("infernum:num_preemptions_total", l),
            load.num_preemptions());
  // Recomputation after a preemption samples no token twice.
  EXPECT_EQ(m.Value("infernum:generation_tokens_total", l), 4000);
}

}  // namespace
}  // namespace infernum::worker::testing
