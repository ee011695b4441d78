// Engine API behaviour on stories260K: finish reasons (length, EOS, stop
// ids, min_tokens, abort), the event order of the sinks, timings, logprobs,
// submission errors, seeded sampling across preemption and resume.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/engine/engine.h"
#include "worker/engine/engine_test_util.h"
#include "worker/engine/output_sink.h"

namespace infernum::worker {
namespace {

using testing::GreedyRequest;
using testing::RefToken;

// "Once upon a time" with BOS, as stories260K's tokenizer encodes it.
const std::vector<int32_t> kOnce = {1, 403, 407, 261, 378};

class EngineApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new testing::TestModel(testing::LoadStories(1));
    reference_ = new std::vector<RefToken>(
        testing::GreedyReference(*model_->model, kOnce, 30));
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete model_;
  }

  std::unique_ptr<Engine> MakeEngine(std::vector<int32_t> eos = {},
                                     EngineConfig config = {}) {
    if (config.num_blocks == 0) config.num_blocks = 256;
    auto engine = Engine::Create(*model_->model, config, std::move(eos));
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::move(engine).value();
  }

  // Index j >= 1 of the first reference token that did not occur before it.
  static int FirstNewTokenIndex() {
    const auto& ref = *reference_;
    for (size_t j = 1; j < ref.size(); ++j) {
      bool seen = false;
      for (size_t i = 0; i < j; ++i) seen |= ref[i].token == ref[j].token;
      if (!seen) return static_cast<int>(j);
    }
    return -1;
  }

  static std::vector<int32_t> RefIds(int n) {
    std::vector<int32_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back((*reference_)[i].token);
    return ids;
  }

  // Runs one request alone to completion; returns its sink.
  std::shared_ptr<CollectingSink> RunOne(Engine& engine, EngineRequest r) {
    auto sink = std::make_shared<CollectingSink>();
    const absl::Status st = engine.AddRequest(std::move(r), sink);
    EXPECT_TRUE(st.ok()) << st;
    EXPECT_TRUE(testing::RunToCompletion(engine).ok());
    EXPECT_TRUE(testing::CheckNoLeaks(engine).ok());
    EXPECT_TRUE(sink->finished());
    EXPECT_EQ(sink->num_events_after_finish(), 0);
    return sink;
  }

  static testing::TestModel* model_;
  static std::vector<RefToken>* reference_;
};

testing::TestModel* EngineApiTest::model_ = nullptr;
std::vector<RefToken>* EngineApiTest::reference_ = nullptr;

TEST_F(EngineApiTest, LengthFinish) {
  auto engine = MakeEngine();
  auto sink = RunOne(*engine, GreedyRequest("a", kOnce, 7));
  const FinalOutput f = sink->final_output();
  EXPECT_EQ(f.finish_reason, FinishReason::kLength);
  EXPECT_TRUE(f.error.ok());
  EXPECT_FALSE(f.stop_token_id.has_value());
  EXPECT_EQ(f.num_prompt_tokens, 5);
  EXPECT_EQ(f.num_output_tokens, 7);
  EXPECT_EQ(sink->token_ids(), RefIds(7));
}

TEST_F(EngineApiTest, StopTokenIdEndsAndIsNotStreamed) {
  const int j = FirstNewTokenIndex();
  ASSERT_GT(j, 0);
  const int32_t stop = (*reference_)[j].token;
  auto engine = MakeEngine();
  EngineRequest r = GreedyRequest("a", kOnce, 30);
  r.stop_token_ids = {stop};
  auto sink = RunOne(*engine, r);
  const FinalOutput f = sink->final_output();
  EXPECT_EQ(f.finish_reason, FinishReason::kStop);
  EXPECT_EQ(f.stop_token_id, stop);
  EXPECT_EQ(f.num_output_tokens, j + 1);  // the stop token counts
  EXPECT_EQ(sink->token_ids(), RefIds(j));
  EXPECT_EQ(f.timings.inter_token_latencies.size(), static_cast<size_t>(j));
}

TEST_F(EngineApiTest, EosStopsUnlessIgnored) {
  const int j = FirstNewTokenIndex();
  const int32_t eos = (*reference_)[j].token;
  auto engine = MakeEngine({eos});
  EngineRequest r = GreedyRequest("a", kOnce, 20);
  r.ignore_eos = false;
  auto stopped = RunOne(*engine, r);
  EXPECT_EQ(stopped->final_output().finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->final_output().stop_token_id, eos);
  EXPECT_EQ(stopped->token_ids(), RefIds(j));
  r.ignore_eos = true;
  auto ignored = RunOne(*engine, r);
  EXPECT_EQ(ignored->final_output().finish_reason, FinishReason::kLength);
  EXPECT_EQ(ignored->token_ids(), RefIds(20));
}

TEST_F(EngineApiTest, MinTokensMasksStopIds) {
  const int j = FirstNewTokenIndex();
  const int32_t eos = (*reference_)[j].token;
  auto engine = MakeEngine({eos});
  EngineRequest r = GreedyRequest("a", kOnce, 20);
  r.ignore_eos = false;
  r.min_tokens = j + 3;
  auto sink = RunOne(*engine, r);
  const std::vector<int32_t> ids = sink->token_ids();
  // Identical up to the masked position, which then differs.
  ASSERT_GE(ids.size(), static_cast<size_t>(r.min_tokens));
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + j), RefIds(j));
  for (int i = 0; i < r.min_tokens; ++i) EXPECT_NE(ids[i], eos) << i;
}

TEST_F(EngineApiTest, EventOrderTimingsAndLogprobs) {
  auto engine = MakeEngine();
  std::vector<std::string> events;
  FinalOutput final_output;
  auto sink = std::make_shared<CallbackSink>(
      [&](const TokenOutput& t) {
        events.push_back(absl::StrCat("t", t.index));
        ASSERT_TRUE(t.logprob.has_value());
        EXPECT_EQ(*t.logprob, (*reference_)[t.index].logprob);
        ASSERT_EQ(t.top_logprobs.size(), 3u);
        EXPECT_EQ(t.top_logprobs[0].token, t.token_id);  // greedy = argmax
        EXPECT_GE(t.top_logprobs[0].logprob, t.top_logprobs[1].logprob);
      },
      [&](const FinalOutput& f) {
        events.push_back("final");
        final_output = f;
      });
  EngineRequest r = GreedyRequest("a", kOnce, 6);
  r.sampling.num_logprobs = 3;
  ASSERT_TRUE(engine->AddRequest(r, sink).ok());
  EXPECT_TRUE(events.empty());  // nothing is delivered at submission
  ASSERT_TRUE(testing::RunToCompletion(*engine).ok());
  EXPECT_EQ(events, (std::vector<std::string>{"t0", "t1", "t2", "t3", "t4",
                                              "t5", "final"}));
  const RequestTimings& t = final_output.timings;
  EXPECT_GE(t.queue_time, 0.0);
  EXPECT_GE(t.time_to_first_token, t.queue_time);
  ASSERT_EQ(t.inter_token_latencies.size(), 5u);
  double sum = t.time_to_first_token;
  for (double d : t.inter_token_latencies) {
    EXPECT_GE(d, 0.0);
    sum += d;
  }
  EXPECT_LE(sum, t.e2e_latency + 1e-9);

  // Without logprobs none are reported.
  EngineRequest plain_request = GreedyRequest("b", kOnce, 2);
  plain_request.sampling.num_logprobs = -1;
  auto plain = RunOne(*engine, plain_request);
  ASSERT_EQ(plain->tokens().size(), 2u);
  for (const TokenOutput& tok : plain->tokens()) {
    EXPECT_FALSE(tok.logprob.has_value());
    EXPECT_TRUE(tok.top_logprobs.empty());
  }
}

TEST_F(EngineApiTest, AbortDeliversAbortAndFreesBlocks) {
  auto engine = MakeEngine();
  auto a = std::make_shared<CollectingSink>();
  auto b = std::make_shared<CollectingSink>();
  ASSERT_TRUE(engine->AddRequest(GreedyRequest("a", kOnce, 30), a).ok());
  ASSERT_TRUE(engine->AddRequest(GreedyRequest("b", kOnce, 10), b).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(engine->Step().ok());
  ASSERT_TRUE(engine->Abort("a").ok());
  ASSERT_TRUE(a->finished());
  EXPECT_EQ(a->final_output().finish_reason, FinishReason::kAbort);
  EXPECT_EQ(a->final_output().error.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(a->token_ids(), RefIds(3));
  EXPECT_EQ(engine->Abort("a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine->Abort("zzz").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(testing::RunToCompletion(*engine).ok());
  EXPECT_EQ(b->final_output().finish_reason, FinishReason::kLength);
  EXPECT_EQ(b->token_ids(), RefIds(10));
  EXPECT_EQ(a->num_events_after_finish(), 0);
  EXPECT_TRUE(testing::CheckNoLeaks(*engine).ok());
  // The id is free again.
  EXPECT_TRUE(engine
                  ->AddRequest(GreedyRequest("a", kOnce, 1),
                               std::make_shared<CollectingSink>())
                  .ok());
}

TEST_F(EngineApiTest, SubmissionErrors) {
  EngineConfig config;
  config.num_blocks = 8;  // 128 tokens of KV
  config.max_model_len = 256;
  auto engine = MakeEngine({}, config);
  auto sink = std::make_shared<CollectingSink>();
  auto expect = [&](EngineRequest r, absl::StatusCode code) {
    EXPECT_EQ(engine->ValidateRequest(r).code(), code) << r.request_id;
    EXPECT_EQ(engine->AddRequest(std::move(r), sink).code(), code);
  };
  using C = absl::StatusCode;
  expect(GreedyRequest("", kOnce, 4), C::kInvalidArgument);
  expect(GreedyRequest("empty", {}, 4), C::kInvalidArgument);
  expect(GreedyRequest("vocab", {1, 512}, 4), C::kInvalidArgument);
  expect(GreedyRequest("negative", {1, -1}, 4), C::kInvalidArgument);
  EngineRequest r = GreedyRequest("temp", kOnce, 4);
  r.sampling.temperature = -1;
  expect(r, C::kInvalidArgument);
  r = GreedyRequest("max", kOnce, -1);
  expect(r, C::kInvalidArgument);
  r = GreedyRequest("prev", kOnce, 4);
  r.num_previously_generated = 5;
  expect(r, C::kInvalidArgument);
  r = GreedyRequest("stopid", kOnce, 4);
  r.stop_token_ids = {-3};
  expect(r, C::kInvalidArgument);
  expect(GreedyRequest("context", kOnce, 252), C::kOutOfRange);
  expect(GreedyRequest("kv", kOnce, 200), C::kResourceExhausted);
  EXPECT_FALSE(sink->finished());
  EXPECT_EQ(engine->num_live_requests(), 0);
  // The largest request that fits: 5 + 124 - 1 = 128 KV slots.
  ASSERT_TRUE(engine->AddRequest(GreedyRequest("ok", kOnce, 124), sink).ok());
  EXPECT_EQ(engine->AddRequest(GreedyRequest("ok", kOnce, 4), sink).code(),
            C::kAlreadyExists);
  ASSERT_TRUE(testing::RunToCompletion(*engine).ok());
  EXPECT_EQ(sink->final_output().num_output_tokens, 124);

  config.enable_chunked_prefill = false;
  config.max_num_batched_tokens = 4;
  auto no_chunk = MakeEngine({}, config);
  EXPECT_EQ(no_chunk->AddRequest(GreedyRequest("long", kOnce, 4), sink).code(),
            C::kInvalidArgument);
}

TEST_F(EngineApiTest, BadConfig) {
  EngineConfig c;
  EXPECT_EQ(Engine::Create(*model_->model, c, {}).status().code(),
            absl::StatusCode::kInvalidArgument);  // no KV size
  c.kv_cache_memory_bytes = 100;                  // less than a block
  EXPECT_EQ(Engine::Create(*model_->model, c, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  c.kv_cache_memory_bytes = 1 << 20;
  c.max_model_len = 100000;
  EXPECT_EQ(Engine::Create(*model_->model, c, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  c.max_model_len = 0;
  auto engine = Engine::Create(*model_->model, c, {});
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ((*engine)->config().max_model_len, 512);
  // 1 MiB / (5 layers * 2 * 16 slots * 4 heads * 8 dims * 4 bytes) = 51.
  EXPECT_EQ((*engine)->config().num_blocks, (1 << 20) / (5 * 2 * 16 * 32 * 4));
}

TEST_F(EngineApiTest, MaxTokensZeroRunsToTheContext) {
  EngineConfig config;
  config.max_model_len = 40;
  auto engine = MakeEngine({}, config);
  auto sink = RunOne(*engine, GreedyRequest("a", kOnce, 0));
  EXPECT_EQ(sink->final_output().finish_reason, FinishReason::kLength);
  EXPECT_EQ(sink->final_output().num_output_tokens, 35);
}

TEST_F(EngineApiTest, StatsCountTokens) {
  auto engine = MakeEngine();
  RunOne(*engine, GreedyRequest("a", kOnce, 4));
  RunOne(*engine, GreedyRequest("b", {1, 403}, 3));
  const EngineStats s = engine->stats();
  EXPECT_EQ(s.prompt_tokens_total, 7);
  EXPECT_EQ(s.generation_tokens_total, 7);
  EXPECT_EQ(s.num_requests_finished, 2);
  EXPECT_EQ(s.num_running + s.num_waiting, 0);
  EXPECT_EQ(s.num_blocks_used, 0);
  EXPECT_GT(s.peak_kv_cache_usage, 0.0);
  EXPECT_EQ(s.num_blocks_total, 256);
}

}  // namespace
}  // namespace infernum::worker
