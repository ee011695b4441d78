#include "worker/engine/scheduler.h"

#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace infernum::worker {
namespace {

std::vector<int32_t> Range(int begin, int end) {
  std::vector<int32_t> v(end - begin);
  std::iota(v.begin(), v.end(), begin);
  return v;
}

SchedulerConfig Config(int budget, int num_blocks, int block_size = 16) {
  SchedulerConfig c;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = 8;
  c.max_model_len = 1024;
  c.kv_cache.num_blocks = num_blocks;
  c.kv_cache.block_size = block_size;
  return c;
}

NewRequest Req(std::string id, std::vector<int32_t> prompt, int max_tokens,
               int priority = 0) {
  NewRequest r;
  r.request_id = std::move(id);
  r.prompt_token_ids = std::move(prompt);
  r.max_tokens = max_tokens;
  r.priority = priority;
  return r;
}

// The fake model samples token 5000 + seq_len for every sequence that samples.
int32_t FakeToken(const ScheduledSequence& s) { return 5000 + s.seq_len; }

SchedulerOutput Step(Scheduler& s,
                     std::vector<RequestUpdate>* updates = nullptr) {
  SchedulerOutput out = s.Schedule();
  ModelRunnerOutput res;
  for (const auto& seq : out.seqs)
    res.sampled_token_ids.push_back(seq.sample ? FakeToken(seq)
                                               : kNoSampledToken);
  auto u = s.Update(out, res);
  EXPECT_TRUE(u.ok()) << u.status();
  if (updates != nullptr && u.ok()) *updates = *u;
  return out;
}

const ScheduledSequence* FindSeq(const SchedulerOutput& out,
                                 const std::string& id) {
  for (const auto& s : out.seqs)
    if (s.request_id == id) return &s;
  return nullptr;
}

std::vector<std::string> Ids(const SchedulerOutput& out) {
  std::vector<std::string> ids;
  for (const auto& s : out.seqs) ids.push_back(s.request_id);
  return ids;
}

TEST(SchedulerTest, RejectsBadRequestsAtSubmit) {
  SchedulerConfig c = Config(64, 4);  // 64 KV slots
  c.max_model_len = 100;
  auto s = Scheduler::Create(c).value();
  auto code = [&](NewRequest r) { return s->AddRequest(std::move(r)).code(); };
  using C = absl::StatusCode;
  EXPECT_EQ(code(Req("", Range(0, 4), 1)), C::kInvalidArgument);
  EXPECT_EQ(code(Req("a", {}, 1)), C::kInvalidArgument);
  EXPECT_EQ(code(Req("a", {1, -2}, 1)), C::kInvalidArgument);
  EXPECT_EQ(code(Req("a", Range(0, 4), 0)), C::kInvalidArgument);
  EXPECT_EQ(code(Req("a", Range(0, 90), 11)), C::kInvalidArgument);  // > 100
  // 60 + 6 needs KV for 65 tokens, exactly 64 slots (the last sampled token
  // is never computed); one more token can never fit.
  EXPECT_EQ(code(Req("a", Range(0, 60), 7)), C::kResourceExhausted);
  EXPECT_EQ(code(Req("a", Range(0, 60), 5)), C::kOk);
  EXPECT_EQ(code(Req("a", Range(0, 4), 1)), C::kAlreadyExists);
  c.enable_chunked_prefill = false;
  auto no_chunk = Scheduler::Create(c).value();
  EXPECT_EQ(no_chunk->AddRequest(Req("b", Range(0, 65), 1)).code(),
            C::kInvalidArgument);
  EXPECT_TRUE(no_chunk->AddRequest(Req("b", Range(0, 64), 1)).ok());
  EXPECT_FALSE(Scheduler::Create(Config(0, 4)).ok());
  EXPECT_FALSE(Scheduler::Create(Config(8, 0)).ok());
}

TEST(SchedulerTest, ChunkedPrefillSplitsLongPromptAcrossSteps) {
  auto s = Scheduler::Create(Config(32, 16)).value();
  const auto prompt = Range(100, 200);  // 100 tokens
  ASSERT_TRUE(s->AddRequest(Req("a", prompt, 2)).ok());
  int position = 0;
  for (int chunk : {32, 32, 32, 4}) {
    const SchedulerOutput out = Step(*s);
    ASSERT_EQ(out.seqs.size(), 1u);
    const ScheduledSequence& q = out.seqs[0];
    EXPECT_EQ(q.start_position, position);
    EXPECT_EQ(q.num_new_tokens(), chunk);
    EXPECT_EQ(q.token_ids, Range(100 + position, 100 + position + chunk));
    EXPECT_EQ(q.seq_len, position + chunk);
    EXPECT_GE(int(q.block_ids.size()) * out.block_size, q.seq_len);
    EXPECT_EQ(q.sample, position + chunk == 100);  // only the last chunk
    EXPECT_EQ(q.newly_admitted, position == 0);
    EXPECT_EQ(out.num_batched_tokens, chunk);
    position += chunk;
  }
  const SchedulerOutput decode = Step(*s);  // the sampled token: 5000 + 100
  ASSERT_EQ(decode.seqs.size(), 1u);
  EXPECT_EQ(decode.seqs[0].token_ids, std::vector<int32_t>{5100});
  EXPECT_EQ(decode.seqs[0].start_position, 100);
  EXPECT_FALSE(s->HasUnfinishedRequests());  // max_tokens = 2 reached
  EXPECT_EQ(decode.finished_request_ids.size(), 0u);
  EXPECT_EQ(s->Schedule().finished_request_ids, std::vector<std::string>{"a"});
}

TEST(SchedulerTest, WithoutChunkingPromptsAreScheduledWhole) {
  SchedulerConfig c = Config(32, 16);
  c.enable_chunked_prefill = false;
  auto s = Scheduler::Create(c).value();
  ASSERT_TRUE(s->AddRequest(Req("a", Range(0, 20), 4)).ok());
  ASSERT_TRUE(s->AddRequest(Req("b", Range(100, 120), 4)).ok());
  SchedulerOutput out = Step(*s);
  EXPECT_EQ(Ids(out), std::vector<std::string>{"a"});  // b needs 20 > 12 left
  out = Step(*s);
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(out.seqs[1].num_new_tokens(), 20);
}

TEST(SchedulerTest, DecodesFirstThenPrefillsWithinBudgetAndSeqLimit) {
  SchedulerConfig c = Config(20, 32);
  c.max_num_seqs = 3;
  auto s = Scheduler::Create(c).value();
  ASSERT_TRUE(s->AddRequest(Req("a", Range(0, 5), 50)).ok());
  Step(*s);  // a prefilled, now decoding
  ASSERT_TRUE(s->AddRequest(Req("b", Range(100, 140), 50)).ok());
  SchedulerOutput out = Step(*s);  // a decodes, b gets the other 19
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(out.seqs[1].num_new_tokens(), 19);
  ASSERT_TRUE(s->AddRequest(Req("c", Range(200, 210), 50)).ok());
  ASSERT_TRUE(s->AddRequest(Req("d", Range(300, 310), 50)).ok());
  out = Step(*s);  // decode a, continue b (19), c gets 0 budget
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(out.num_batched_tokens, 20);
  out = Step(*s);  // a; b finishes its 2 tokens; c admitted; d: seq limit
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(out.seqs[1].sample);
  EXPECT_EQ(out.seqs[2].num_new_tokens(), 10);
  out = Step(*s);  // three decodes; d waits for a free seat
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"a", "b", "c"}));
  for (const auto& q : out.seqs) EXPECT_EQ(q.num_new_tokens(), 1);
  EXPECT_EQ(s->stats().num_waiting, 1);
}

TEST(SchedulerTest, WaitingQueueOrderedByPriorityThenArrival) {
  auto s = Scheduler::Create(Config(10, 32)).value();
  ASSERT_TRUE(
      s->AddRequest(Req("late_low", Range(0, 10), 1, /*priority=*/5)).ok());
  ASSERT_TRUE(
      s->AddRequest(Req("high", Range(0, 10), 1, /*priority=*/-1)).ok());
  ASSERT_TRUE(s->AddRequest(Req("low2", Range(0, 10), 1, /*priority=*/5)).ok());
  EXPECT_EQ(Ids(Step(*s)), std::vector<std::string>{"high"});
  EXPECT_EQ(Ids(Step(*s)), std::vector<std::string>{"late_low"});
  EXPECT_EQ(Ids(Step(*s)), std::vector<std::string>{"low2"});
}

// Tiny cache: 6 blocks of 4 slots. Three requests of 8-token prompts (2
// blocks each) fill it; the first decode step needs a third block for every
// one, so the newest is preempted (the others then fit).
TEST(SchedulerTest, PreemptsNewestKeepsItsOutputAndRecomputesIt) {
  auto s = Scheduler::Create(Config(64, 6, 4)).value();
  for (const char* id : {"a", "b", "c"})
    ASSERT_TRUE(s->AddRequest(Req(id, Range(0, 7), 10)).ok());
  // Prompts of 7 tokens: prefill 7 -> sample token 8; decode writes slot 7.
  SchedulerOutput out = Step(*s);
  ASSERT_EQ(Ids(out), (std::vector<std::string>{"a", "b", "c"}));
  out = Step(*s);  // position 7: still 2 blocks each
  ASSERT_EQ(out.seqs.size(), 3u);
  out = Step(*s);  // position 8: everyone needs a 3rd block; 0 free
  EXPECT_EQ(out.preempted_request_ids, std::vector<std::string>{"c"});
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"a", "b"}));
  const Request* c = s->GetRequest("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, RequestStatus::kPreempted);
  EXPECT_EQ(c->num_computed_tokens, 0);
  EXPECT_FALSE(c->block_table.attached());
  const std::vector<int32_t> kept(c->output_token_ids().begin(),
                                  c->output_token_ids().end());
  EXPECT_EQ(kept, (std::vector<int32_t>{5007, 5008}));  // outputs kept
  EXPECT_EQ(s->stats().num_preemptions, 1);
  // Abort a so c can come back; it recomputes prompt + outputs as a prefill.
  ASSERT_TRUE(s->Abort("a").ok());
  out = Step(*s);
  const ScheduledSequence* cs = FindSeq(out, "c");
  ASSERT_NE(cs, nullptr);
  EXPECT_TRUE(cs->newly_admitted);
  std::vector<int32_t> all = Range(0, 7);
  all.insert(all.end(), kept.begin(), kept.end());  // 9 tokens
  EXPECT_EQ(cs->start_position, c->num_cached_tokens);
  EXPECT_EQ(cs->token_ids,
            std::vector<int32_t>(all.begin() + cs->start_position, all.end()));
  EXPECT_TRUE(cs->sample);
  EXPECT_EQ(c->output_token_ids().back(), 5009);  // continues after 5008
}

TEST(SchedulerTest, VictimIsLowestPriorityEvenIfOlder) {
  auto s = Scheduler::Create(Config(64, 6, 4)).value();
  ASSERT_TRUE(s->AddRequest(Req("old_low", Range(0, 7), 10, 9)).ok());
  ASSERT_TRUE(s->AddRequest(Req("b", Range(0, 7), 10, 0)).ok());
  ASSERT_TRUE(s->AddRequest(Req("c", Range(0, 7), 10, 0)).ok());
  Step(*s);
  Step(*s);
  const SchedulerOutput out = Step(*s);
  EXPECT_EQ(out.preempted_request_ids, std::vector<std::string>{"old_low"});
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"b", "c"}));
}

TEST(SchedulerTest, AbortFreesBlocksImmediately) {
  auto s = Scheduler::Create(Config(64, 16)).value();
  ASSERT_TRUE(s->AddRequest(Req("run", Range(0, 40), 5)).ok());
  Step(*s);
  ASSERT_TRUE(s->AddRequest(Req("wait", Range(0, 40), 5)).ok());
  EXPECT_EQ(s->block_manager().stats().num_used_blocks, 3);
  ASSERT_TRUE(s->Abort("run").ok());
  EXPECT_EQ(s->block_manager().stats().num_used_blocks, 0);
  ASSERT_TRUE(s->Abort("wait").ok());
  EXPECT_EQ(s->Abort("wait").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(s->HasUnfinishedRequests());
  const SchedulerOutput out = s->Schedule();
  EXPECT_EQ(out.finished_request_ids,
            (std::vector<std::string>{"run", "wait"}));
  EXPECT_TRUE(s->block_manager().CheckConsistency().ok());
}

TEST(SchedulerTest, AbortBetweenScheduleAndUpdateIsSkipped) {
  auto s = Scheduler::Create(Config(64, 16)).value();
  ASSERT_TRUE(s->AddRequest(Req("a", Range(0, 10), 5)).ok());
  ASSERT_TRUE(s->AddRequest(Req("b", Range(0, 10), 5)).ok());
  const SchedulerOutput out = s->Schedule();
  ASSERT_TRUE(s->Abort("a").ok());
  auto u = s->Update(out, ModelRunnerOutput{{kNoSampledToken, 7}});
  ASSERT_TRUE(u.ok()) << u.status();
  ASSERT_EQ(u->size(), 1u);
  EXPECT_EQ((*u)[0].request_id, "b");
  EXPECT_EQ(s->GetRequest("b")->num_computed_tokens, 10);
}

TEST(SchedulerTest, SharedPrefixIsServedFromCacheAndOnlySuffixScheduled) {
  auto s = Scheduler::Create(Config(512, 64)).value();
  const auto prefix = Range(1000, 1100);  // 100 tokens
  auto p1 = prefix, p2 = prefix;
  for (int i = 0; i < 7; ++i) p1.push_back(i), p2.push_back(50 + i);
  ASSERT_TRUE(s->AddRequest(Req("a", p1, 4)).ok());
  const SchedulerOutput first = Step(*s);
  ASSERT_TRUE(s->AddRequest(Req("b", p2, 4)).ok());
  const SchedulerOutput out = Step(*s);
  const ScheduledSequence* b = FindSeq(out, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(s->GetRequest("b")->num_cached_tokens, 96);  // floor(100/16)*16
  EXPECT_EQ(b->start_position, 96);
  EXPECT_EQ(b->token_ids, std::vector<int32_t>(p2.begin() + 96, p2.end()));
  EXPECT_EQ(out.num_batched_tokens, 1 + 11);  // a's decode + b's suffix
  const auto& a_blocks = first.seqs[0].block_ids;
  for (int j = 0; j < 6; ++j) EXPECT_EQ(b->block_ids[j], a_blocks[j]);
  const BlockManagerStats kv = s->stats().kv_cache;
  EXPECT_EQ(kv.prefix_cache_hit_tokens, 96);
  EXPECT_EQ(kv.prefix_cache_query_tokens, 214);
}

TEST(SchedulerTest, UpdateValidatesItsInput) {
  auto s = Scheduler::Create(Config(64, 16)).value();
  ASSERT_TRUE(s->AddRequest(Req("a", Range(0, 10), 5)).ok());
  SchedulerOutput out = s->Schedule();
  EXPECT_EQ(s->Update(out, ModelRunnerOutput{{}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s->Update(out, ModelRunnerOutput{{kNoSampledToken}}).status().code(),
      absl::StatusCode::kInvalidArgument);
  SchedulerOutput stale = out;
  stale.step_id += 1;
  EXPECT_EQ(s->Update(stale, ModelRunnerOutput{{3}}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->GetRequest("a")->num_computed_tokens, 0);  // nothing changed
  ASSERT_TRUE(s->Update(out, ModelRunnerOutput{{3}}).ok());
  EXPECT_EQ(s->Update(out, ModelRunnerOutput{{3}}).status().code(),
            absl::StatusCode::kFailedPrecondition);  // applied once only
}

TEST(SchedulerTest, LengthAndStopFinishes) {
  auto s = Scheduler::Create(Config(64, 16)).value();
  ASSERT_TRUE(s->AddRequest(Req("len", Range(0, 10), 3)).ok());
  ASSERT_TRUE(s->AddRequest(Req("stop", Range(0, 10), 30)).ok());
  std::vector<RequestUpdate> u;
  Step(*s, &u);
  ASSERT_EQ(u.size(), 2u);
  EXPECT_FALSE(u[0].finished);
  ASSERT_TRUE(s->Finish("stop", FinishReason::kStop).ok());  // engine: EOS
  Step(*s, &u);
  Step(*s, &u);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_TRUE(u[0].finished);
  EXPECT_EQ(u[0].finish_reason, FinishReason::kLength);
  EXPECT_EQ(u[0].num_output_tokens, 3);
  EXPECT_FALSE(s->HasUnfinishedRequests());
  EXPECT_EQ(s->block_manager().stats().num_used_blocks, 0);
  EXPECT_EQ(s->Finish("x", FinishReason::kNone).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infernum::worker
