// GenerationSession failover: retries, stalls, migrations and their limits,
// against deterministic fake workers whose uninterrupted output
// (FakeContinuation) is the reference.
#include "router/server/generation_session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "router/api/errors.h"
#include "router/server/failover_fixture.h"

namespace infernum::router::testing {
namespace {

const std::vector<int32_t> kPrompt = {1, 300, 301, 302};

struct Result {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::optional<v1::GenerateFinal> final;
  std::optional<SequenceEvent> error;
  bool ended() const { return final.has_value() || error.has_value(); }
};

std::string Describe(const Result& r) {
  std::string out = absl::StrCat(r.tokens.size(), " tokens");
  if (r.final.has_value())
    absl::StrAppend(&out, ", final ", r.final->ShortDebugString());
  if (r.error.has_value())
    absl::StrAppend(&out, ", error ", r.error->error.ToString());
  return out;
}

v1::GenerateRequest Request(const std::string& id,
                            const std::vector<int32_t>& prompt,
                            int max_tokens) {
  v1::GenerateRequest r;
  r.set_request_id(id);
  r.mutable_prompt_token_ids()->Assign(prompt.begin(), prompt.end());
  r.set_max_tokens(max_tokens);
  r.mutable_sampling()->set_temperature(0);
  return r;
}

// Feeds `results` from the session until every sequence ended (or a
// generous safety limit passes: then the test fails on the results).
void Drain(GenerationSession& session, std::vector<Result>& results) {
  results.resize(session.num_sequences());
  const absl::Time limit = absl::Now() + absl::Seconds(60);
  auto all_ended = [&] {
    for (const Result& r : results) {
      if (!r.ended()) return false;
    }
    return true;
  };
  while (!all_ended() && absl::Now() < limit) {
    std::optional<SequenceEvent> ev = session.Next(absl::Milliseconds(50));
    if (!ev.has_value()) continue;
    Result& r = results[ev->sequence];
    EXPECT_FALSE(r.ended()) << "event after the end of " << ev->sequence;
    switch (ev->kind) {
      case SequenceEvent::Kind::kTokens:
        for (const auto& t : ev->chunk.tokens()) {
          r.tokens.push_back(t.token_id());
          r.logprobs.push_back(t.logprob());
        }
        break;
      case SequenceEvent::Kind::kFinal:
        r.final = ev->final;
        break;
      case SequenceEvent::Kind::kError:
        r.error = std::move(*ev);
        break;
    }
  }
}

std::vector<Result> RunOne(GenerationSession& session) {
  std::vector<Result> results;
  EXPECT_TRUE(session.Start().ok());
  Drain(session, results);
  return results;
}

using SessionTest = FailoverTest;

TEST_F(SessionTest, UninterruptedStreamIsTheReference) {
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 40)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value());
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 40));
  EXPECT_EQ(results[0].final->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(results[0].final->completion_tokens(), 40);
  EXPECT_EQ(counters_.migrations + counters_.retries + counters_.stalls, 0u);
}

TEST_F(SessionTest, WorkerDeathMidStreamResumesWithoutLoss) {
  SetFault(Fault::kDie, 7);
  v1::GenerateRequest req = Request("a", kPrompt, 40);
  req.set_logprobs(true);
  req.set_top_logprobs(2);
  req.mutable_sampling()->set_temperature(0.7f);  // No seed given.
  GenerationSession session(pool_.get(), SessionOptions(), {req});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  const std::vector<int32_t> reference = FakeContinuation(kPrompt, 40);
  EXPECT_EQ(results[0].tokens, reference);
  ASSERT_EQ(results[0].logprobs.size(), 40u);
  for (int k = 0; k < 40; ++k) {  // The fake's logprob of output k.
    EXPECT_FLOAT_EQ(results[0].logprobs[k], -(k + 1) / 8.0f) << k;
  }
  EXPECT_EQ(results[0].final->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(results[0].final->prompt_tokens(), 4);
  EXPECT_EQ(results[0].final->completion_tokens(), 40);
  EXPECT_EQ(counters_.migrations, 1u);
  EXPECT_EQ(counters_.retries, 0u);
  // The resume request: original prompt + the 7 streamed tokens, the rest
  // of the budget, the same (router-chosen) seed and sampling.
  const int dead = WorkerOf("a", 0);
  const int resumed = WorkerOf("a", 7);
  ASSERT_GE(dead, 0);
  ASSERT_GE(resumed, 0);
  EXPECT_NE(dead, resumed);
  EXPECT_TRUE(workers_[dead]->dead());
  EXPECT_FALSE(pool_->registry().IsHealthy(dead));
  const v1::GenerateRequest first = workers_[dead]->requests()[0];
  v1::GenerateRequest second;
  for (const auto& r : workers_[resumed]->requests()) second = r;
  ASSERT_TRUE(first.sampling().has_seed());
  EXPECT_EQ(second.sampling().seed(), first.sampling().seed());
  EXPECT_EQ(session.request(0).sampling().seed(), first.sampling().seed());
  EXPECT_FLOAT_EQ(second.sampling().temperature(), 0.7f);
  std::vector<int32_t> expected_prompt = kPrompt;
  expected_prompt.insert(expected_prompt.end(), reference.begin(),
                         reference.begin() + 7);
  EXPECT_EQ(std::vector<int32_t>(second.prompt_token_ids().begin(),
                                 second.prompt_token_ids().end()),
            expected_prompt);
  EXPECT_EQ(second.max_tokens(), 33);
  EXPECT_TRUE(second.logprobs());
  EXPECT_EQ(second.top_logprobs(), 2);
}

TEST_F(SessionTest, StallMidStreamIsDetectedAndMigrated) {
  SetFault(Fault::kStall, 5);
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 30)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 30));
  EXPECT_EQ(results[0].final->completion_tokens(), 30);
  EXPECT_EQ(counters_.stalls, 1u);
  EXPECT_EQ(counters_.migrations, 1u);
  const int stalled = WorkerOf("a", 0);
  ASSERT_GE(stalled, 0);
  EXPECT_GE(WorkerOf("a", 5), 0);
  // The stuck call was cancelled and the worker taken out of rotation.
  EXPECT_TRUE(workers_[stalled]->WaitForCancelled(1, absl::Seconds(30)));
  EXPECT_FALSE(pool_->registry().IsHealthy(stalled));
}

TEST_F(SessionTest, StallBeforeTheFirstTokenIsARetryOnceTheWorkerIsDown) {
  SetFault(Fault::kStall, 0);
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 12)});
  // Silence before the first token on a worker that still passes its
  // health checks is a queued request, not a stall; once the pool sees the
  // worker down (as its health poll would for a stopped process), it is.
  std::atomic<uint64_t> stalls_while_healthy{~uint64_t{0}};
  std::thread health([&] {
    int worker = -1;
    for (int i = 0; i < 1200 && (worker = WorkerOf("a", 0)) < 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(3 * kStallTimeout));
    stalls_while_healthy = counters_.stalls.load();
    if (worker >= 0) pool_->MarkUnavailable(worker);
  });
  auto results = RunOne(session);
  health.join();
  EXPECT_EQ(stalls_while_healthy.load(), 0u);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 12));
  EXPECT_EQ(counters_.stalls, 1u);
  EXPECT_EQ(counters_.retries, 1u);
  EXPECT_EQ(counters_.migrations, 0u);
}

TEST_F(SessionTest, DeathBeforeTheFirstTokenIsARetry) {
  SetFault(Fault::kDie, 0);
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 12)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 12));
  EXPECT_EQ(counters_.retries, 1u);
  EXPECT_EQ(counters_.migrations, 0u);
  EXPECT_FALSE(pool_->registry().IsHealthy(WorkerOf("a", 0)));
}

TEST_F(SessionTest, MaxMigrationsExceededEndsWithAnError) {
  SetFault(Fault::kStall, 3, /*num_streams=*/100);  // Every stream stalls.
  GenerationSession::Options o = SessionOptions();
  o.max_migrations = 1;
  GenerationSession session(pool_.get(), o, {Request("a", kPrompt, 30)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].error.has_value());
  const SequenceEvent& ev = *results[0].error;
  EXPECT_FALSE(ev.before_first_token);
  EXPECT_EQ(ev.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(ev.error.message().find("max_migrations"), std::string::npos)
      << ev.error;
  // 3 tokens, stall, migrate, 3 more, stall: what came is still exact.
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 6));
  EXPECT_EQ(counters_.stalls, 2u);
  EXPECT_EQ(counters_.migrations, 1u);
  EXPECT_EQ(counters_.failed_sequences, 1u);
}

TEST_F(SessionTest, NoHealthyWorkerLeftEndsWithAnError) {
  SetFault(Fault::kDie, 4, /*num_streams=*/kNumWorkers);  // All die.
  GenerationSession::Options o = SessionOptions();
  o.max_migrations = 10;
  GenerationSession session(pool_.get(), o, {Request("a", kPrompt, 30)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].error.has_value());
  EXPECT_EQ(results[0].error->error.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(results[0].error->error.message().find("no other healthy worker"),
            std::string::npos)
      << results[0].error->error;
  // 4 tokens from each worker, all exact.
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 4 * kNumWorkers));
  EXPECT_EQ(counters_.migrations, kNumWorkers - 1u);
  EXPECT_EQ(counters_.failed_sequences, 1u);
}

TEST_F(SessionTest, MigrationFindsWorkersThatWereNotRoutedAtTheStart) {
  SetFault(Fault::kDie, 4);
  GenerationSession::Options o = SessionOptions();
  o.route_workers = {route_.workers[0]};  // Only w0 was known at the start.
  GenerationSession session(pool_.get(), o, {Request("a", kPrompt, 30)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 30));
  EXPECT_EQ(WorkerOf("a", 0), 0);
  EXPECT_GT(WorkerOf("a", 4), 0);
}

TEST_F(SessionTest, CancelledSequenceIsNotMigrated) {
  for (auto& w : workers_) {
    w->SetScript([](const v1::GenerateRequest&, FakeStream& s) {
      s.Send({300});
      s.Send({301});
      s.WaitUntilCancelled(absl::Seconds(60));
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    });
  }
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 30)});
  ASSERT_TRUE(session.Start().ok());
  int received = 0;
  while (received < 2) {
    std::optional<SequenceEvent> ev = session.Next(absl::Seconds(30));
    ASSERT_TRUE(ev.has_value());
    ASSERT_EQ(ev->kind, SequenceEvent::Kind::kTokens);
    received += ev->chunk.tokens_size();
  }
  session.Cancel(0);  // E.g. a stop string matched, or the client left.
  // Longer than the stall timeout: nothing more comes, nothing moves.
  EXPECT_FALSE(session.Next(kStallTimeout * 3).has_value());
  EXPECT_EQ(AllRequests().size(), 1u);
  const int worker = WorkerOf("a", 0);
  ASSERT_GE(worker, 0);
  EXPECT_TRUE(workers_[worker]->WaitForCancelled(1, absl::Seconds(30)));
  EXPECT_EQ(counters_.migrations + counters_.retries + counters_.stalls, 0u);
}

TEST_F(SessionTest, RequestErrorsAreNotRetried) {
  for (auto& w : workers_) {
    w->SetScript([](const v1::GenerateRequest&, FakeStream&) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad request");
    });
  }
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 30)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].error.has_value());
  EXPECT_TRUE(results[0].error->before_first_token);
  EXPECT_EQ(results[0].error->error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AllRequests().size(), 1u);
  EXPECT_EQ(counters_.retries, 0u);
  EXPECT_EQ(counters_.failed_sequences, 0u);
  for (int w : route_.workers) EXPECT_TRUE(pool_->registry().IsHealthy(w));
}

TEST_F(SessionTest, OnlyTheFailedSequenceOfTwoMigrates) {
  SetFault(Fault::kDie, 5);
  const std::vector<int32_t> other = {1, 400, 401};
  GenerationSession session(
      pool_.get(), SessionOptions(),
      {Request("a", kPrompt, 25), Request("b", other, 25)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value());
  ASSERT_TRUE(results[1].final.has_value());
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 25));
  EXPECT_EQ(results[1].tokens, FakeContinuation(other, 25));
  EXPECT_EQ(counters_.migrations, 1u);
  // Exactly one of them was resumed after 5 tokens.
  EXPECT_EQ((WorkerOf("a", 5) >= 0) + (WorkerOf("b", 5) >= 0), 1);
  EXPECT_EQ(AllRequests().size(), 3u);
}

TEST_F(SessionTest, ServerShutdownMidStreamMigrates) {
  SetFault(Fault::kStall, 5);
  GenerationSession::Options o = SessionOptions();
  o.stall_timeout = absl::ZeroDuration();  // Off: the peer ends the call.
  GenerationSession session(pool_.get(), o, {Request("a", kPrompt, 20)});
  ASSERT_TRUE(session.Start().ok());
  std::vector<Result> results(1);
  while (results[0].tokens.size() < 5) {
    std::optional<SequenceEvent> ev = session.Next(absl::Seconds(30));
    ASSERT_TRUE(ev.has_value());
    ASSERT_EQ(ev->kind, SequenceEvent::Kind::kTokens);
    for (const auto& t : ev->chunk.tokens())
      results[0].tokens.push_back(t.token_id());
  }
  const int first = WorkerOf("a", 0);
  ASSERT_GE(first, 0);
  workers_[first]->Shutdown();  // Cancels the in-flight stream.
  Drain(session, results);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 20));
  EXPECT_EQ(counters_.migrations, 1u);
  EXPECT_EQ(counters_.stalls, 0u);
}

TEST_F(SessionTest, AbortFinalMigrates) {
  auto aborted = std::make_shared<std::atomic<bool>>(false);
  for (auto& w : workers_) {
    w->SetScript([aborted](const v1::GenerateRequest& r, FakeStream& s) {
      std::vector<int32_t> prompt(r.prompt_token_ids().begin(),
                                  r.prompt_token_ids().end());
      const bool abort = !aborted->exchange(true);
      const int n = abort ? 6 : r.max_tokens();
      for (int32_t t : FakeContinuation(prompt, n)) s.Send({t});
      if (abort) {
        s.SendFinal(v1::FINISH_REASON_ABORT, 6, "draining");
      } else {
        s.SendFinal(v1::FINISH_REASON_LENGTH, n);
      }
      return grpc::Status::OK;
    });
  }
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 20)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 20));
  EXPECT_EQ(results[0].final->completion_tokens(), 20);
  EXPECT_EQ(counters_.migrations, 1u);
}

TEST_F(SessionTest, StopTokenAfterMigrationCountsEveryToken) {
  const std::vector<int32_t> reference = FakeContinuation(kPrompt, 40);
  int stop_at = 12;  // First position whose token did not occur before.
  while (std::find(reference.begin(), reference.begin() + stop_at,
                   reference[stop_at]) != reference.begin() + stop_at) {
    ++stop_at;
  }
  SetFault(Fault::kDie, 5);
  v1::GenerateRequest req = Request("a", kPrompt, 40);
  req.add_stop_token_ids(reference[stop_at]);
  GenerationSession session(pool_.get(), SessionOptions(), {req});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(
      results[0].tokens,
      std::vector<int32_t>(reference.begin(), reference.begin() + stop_at));
  EXPECT_EQ(results[0].final->finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(results[0].final->completion_tokens(), stop_at + 1);
  EXPECT_EQ(results[0].final->prompt_tokens(), 4);
}

TEST_F(SessionTest, DeathAfterTheLastTokenEndsWithLength) {
  for (auto& w : workers_) {
    w->SetScript([](const v1::GenerateRequest& r, FakeStream& s) {
      std::vector<int32_t> prompt(r.prompt_token_ids().begin(),
                                  r.prompt_token_ids().end());
      for (int32_t t : FakeContinuation(prompt, r.max_tokens())) s.Send({t});
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "died");
    });
  }
  GenerationSession session(pool_.get(), SessionOptions(),
                            {Request("a", kPrompt, 8)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].final.has_value()) << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 8));
  EXPECT_EQ(results[0].final->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(results[0].final->completion_tokens(), 8);
  EXPECT_EQ(AllRequests().size(), 1u);  // Nothing left to resume.
}

TEST_F(SessionTest, DeadlineEndsAStalledStreamAsATimeout) {
  SetFault(Fault::kStall, 2);
  GenerationSession::Options o = SessionOptions();
  o.stall_timeout = absl::ZeroDuration();
  o.deadline = absl::Now() + absl::Milliseconds(500);
  GenerationSession session(pool_.get(), o, {Request("a", kPrompt, 30)});
  auto results = RunOne(session);
  ASSERT_TRUE(results[0].error.has_value());
  EXPECT_EQ(ApiErrorFromStatus(results[0].error->error).kind,
            ErrorKind::kTimeout)
      << Describe(results[0]);
  EXPECT_EQ(results[0].tokens, FakeContinuation(kPrompt, 2));
  EXPECT_EQ(AllRequests().size(), 1u);
  EXPECT_EQ(counters_.migrations + counters_.retries, 0u);
}

}  // namespace
}  // namespace infernum::router::testing
