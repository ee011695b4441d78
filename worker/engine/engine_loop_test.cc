// EngineLoop: concurrent submission from several threads, random aborts
// (no leaks, exactly one final event each), drain, shutdown with requests in
// flight, immediate submission errors, abort from inside a sink.
#include "worker/engine/engine_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/engine/engine_test_util.h"
#include "worker/engine/output_sink.h"

namespace infernum::worker {
namespace {

using std::chrono::milliseconds;
using testing::GreedyRequest;

constexpr milliseconds kLong(120000);

class EngineLoopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new testing::TestModel(testing::LoadStories(2));
  }
  static void TearDownTestSuite() { delete model_; }

  static std::unique_ptr<EngineLoop> MakeLoop(int num_blocks = 512) {
    EngineConfig config;
    config.num_blocks = num_blocks;
    config.max_num_batched_tokens = 128;
    auto engine = Engine::Create(*model_->model, config, {2});
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::make_unique<EngineLoop>(std::move(engine).value());
  }

  static std::vector<int32_t> ReferenceIds(const std::vector<int32_t>& prompt,
                                           int max_tokens) {
    std::vector<int32_t> ids;
    for (const auto& t :
         testing::GreedyReference(*model_->model, prompt, max_tokens)) {
      ids.push_back(t.token);
    }
    return ids;
  }

  static testing::TestModel* model_;
};

testing::TestModel* EngineLoopTest::model_ = nullptr;

// Drains a QueueSink on the calling thread; returns the tokens and final.
struct Drained {
  std::vector<int32_t> ids;
  FinalOutput final_output;
  int num_finals = 0;
};

Drained Consume(QueueSink& sink) {
  Drained d;
  while (auto e = sink.Next(kLong)) {
    if (e->token) d.ids.push_back(e->token->token_id);
    if (e->final_output) {
      d.final_output = *e->final_output;
      ++d.num_finals;
    }
  }
  EXPECT_TRUE(sink.done());  // not a timeout
  return d;
}

TEST_F(EngineLoopTest, ConcurrentSubmittersGetReferenceOutputs) {
  auto loop = MakeLoop();
  const auto prompts = testing::RandomPrompts(21, 16, 1, 80, 3, 512, 24);
  std::vector<Drained> results(prompts.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < prompts.size(); i += 4) {
        auto sink = std::make_shared<QueueSink>();
        const absl::Status st = loop->Submit(
            GreedyRequest(absl::StrCat("r", i), prompts[i], 5 + i % 7), sink);
        ASSERT_TRUE(st.ok()) << st;
        results[i] = Consume(*sink);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(loop->WaitIdle(kLong));
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(results[i].num_finals, 1);
    EXPECT_EQ(results[i].final_output.finish_reason, FinishReason::kLength);
    EXPECT_EQ(results[i].ids, ReferenceIds(prompts[i], 5 + i % 7)) << i;
  }
  const EngineStats s = loop->stats();
  EXPECT_EQ(s.num_blocks_used, 0);
  EXPECT_EQ(s.num_requests_finished, 16);
}

TEST_F(EngineLoopTest, RandomAbortsLeaveNoBlocksInUse) {
  auto loop = MakeLoop(/*num_blocks=*/24);  // tight: preemptions too
  const auto prompts = testing::RandomPrompts(22, 40, 1, 100, 3, 512, 32);
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (size_t i = 0; i < prompts.size(); ++i) {
    sinks.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(loop->Submit(GreedyRequest(absl::StrCat("r", i), prompts[i],
                                           10 + i % 30),
                             sinks.back())
                    .ok());
  }
  std::mt19937 rng(5);
  for (int k = 0; k < 25; ++k) {
    std::this_thread::sleep_for(milliseconds(rng() % 20));
    const std::string id = absl::StrCat("r", rng() % prompts.size());
    const absl::Status st = loop->Abort(id);
    EXPECT_TRUE(st.ok() || st.code() == absl::StatusCode::kNotFound) << st;
  }
  ASSERT_TRUE(loop->WaitIdle(kLong));
  int num_aborted = 0;
  for (size_t i = 0; i < sinks.size(); ++i) {
    ASSERT_TRUE(sinks[i]->finished());
    EXPECT_EQ(sinks[i]->num_events_after_finish(), 0);
    const FinalOutput f = sinks[i]->final_output();
    std::vector<int32_t> want = ReferenceIds(prompts[i], 10 + i % 30);
    const std::vector<int32_t> got = sinks[i]->token_ids();
    if (f.finish_reason == FinishReason::kAbort) {
      ++num_aborted;
      ASSERT_LE(got.size(), want.size());
      want.resize(got.size());  // an aborted output is a prefix
    } else {
      EXPECT_EQ(f.finish_reason, FinishReason::kLength);
    }
    EXPECT_EQ(got, want) << i;
  }
  EXPECT_GT(num_aborted, 0);
  const EngineStats s = loop->stats();
  EXPECT_EQ(s.num_blocks_used, 0);
  EXPECT_EQ(s.num_running + s.num_waiting, 0);
  EXPECT_EQ(loop->num_unfinished(), 0);
}

TEST_F(EngineLoopTest, DrainFinishesInFlightAndRefusesNew) {
  auto loop = MakeLoop();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int i = 0; i < 4; ++i) {
    sinks.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(
        loop->Submit(GreedyRequest(absl::StrCat(i), {1, 403}, 20), sinks[i])
            .ok());
  }
  EXPECT_TRUE(loop->Drain(kLong));
  for (const auto& sink : sinks) {
    EXPECT_EQ(sink->final_output().finish_reason, FinishReason::kLength);
  }
  EXPECT_EQ(loop->Submit(GreedyRequest("late", {1}, 2),
                         std::make_shared<CollectingSink>())
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(EngineLoopTest, ShutdownAbortsInFlight) {
  auto loop = MakeLoop();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int i = 0; i < 8; ++i) {
    sinks.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(
        loop->Submit(GreedyRequest(absl::StrCat(i), {1, 403}, 500), sinks[i])
            .ok());
  }
  loop->Shutdown();
  for (const auto& sink : sinks) {
    ASSERT_TRUE(sink->finished());
    const FinalOutput f = sink->final_output();
    EXPECT_EQ(f.finish_reason, FinishReason::kAbort);
    EXPECT_EQ(f.error.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(sink->num_events_after_finish(), 0);
  }
  EXPECT_EQ(loop->stats().num_blocks_used, 0);
  loop->Shutdown();  // idempotent
}

TEST_F(EngineLoopTest, SubmitErrorsAreImmediate) {
  auto loop = MakeLoop(/*num_blocks=*/4);
  auto sink = std::make_shared<CollectingSink>();
  EXPECT_EQ(loop->Submit(GreedyRequest("a", {}, 4), sink).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loop->Submit(GreedyRequest("a", {1}, 600), sink).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(loop->Submit(GreedyRequest("a", {1}, 100), sink).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(loop->Abort("a").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(loop->Submit(GreedyRequest("a", {1}, 60), sink).ok());
  EXPECT_EQ(loop->Submit(GreedyRequest("a", {1}, 4), sink).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(loop->WaitIdle(kLong));
  EXPECT_EQ(sink->final_output().num_output_tokens, 60);
}

TEST_F(EngineLoopTest, SinkMayAbortItsOwnRequest) {
  auto loop = MakeLoop();
  std::atomic<int> num_tokens{0};
  auto done = std::make_shared<CollectingSink>();
  EngineLoop* raw = loop.get();
  auto sink = std::make_shared<CallbackSink>(
      [&](const TokenOutput&) {
        if (++num_tokens == 3) {
          EXPECT_TRUE(raw->Abort("x").ok());
        }
      },
      [done](const FinalOutput& f) { done->OnFinish(f); });
  ASSERT_TRUE(loop->Submit(GreedyRequest("x", {1, 403}, 200), sink).ok());
  ASSERT_TRUE(done->WaitForFinish(kLong));
  EXPECT_EQ(done->final_output().finish_reason, FinishReason::kAbort);
  EXPECT_GE(num_tokens.load(), 3);
  EXPECT_LE(num_tokens.load(), 4);  // at most one more step ran
}

}  // namespace
}  // namespace infernum::worker
