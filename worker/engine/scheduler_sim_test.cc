// Randomized end-to-end simulation of the Scheduler with a fake model that
// emits random tokens: tiny KV caches force preemption, random aborts and
// engine-side stops hit at any point, prompts share prefixes. The fake model
// keeps its own KV memory (slot -> id of the exact token prefix written
// there) and checks on every step that each sequence's context slots hold its
// own prefix, so block tables, prefix hits and recompute after preemption are
// all verified, not just counted. Ends with no leaked block.
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/batch_builder.h"
#include "worker/engine/scheduler.h"

namespace infernum::worker {
namespace {

using Tokens = std::vector<int32_t>;

struct SimRequest {
  Tokens tokens;  // prompt + outputs, as the fake model produced them
  int num_prompt = 0;
  int max_tokens = 0;
  int computed = 0;  // the model's view: KV positions written
};

struct Totals {
  int64_t preemptions = 0, hit_tokens = 0, aborts = 0, stops = 0, lengths = 0;
  int64_t rejected = 0, chunked = 0;
};

class Sim {
 public:
  Sim(uint64_t seed, Totals* totals) : rng_(seed), totals_(totals) {
    config_.kv_cache.block_size = std::vector<int>{2, 4, 8}[U(0, 2)];
    config_.kv_cache.num_blocks = U(6, 24);
    config_.max_num_batched_tokens = U(4, 48);
    config_.max_num_seqs = U(1, 6);
    config_.max_model_len = 64;
    config_.enable_chunked_prefill = U(0, 3) > 0;
    for (int b = 0; b < 3; ++b) bases_.push_back(RandomTokens(U(8, 30)));
    scheduler_ = Scheduler::Create(config_).value();
  }

  void Run() {
    constexpr int kRequests = 30;
    int step = 0;
    while (!::testing::Test::HasFailure()) {
      if (next_id_ < kRequests && U(0, 2) == 0) AddRandomRequest();
      if (next_id_ >= kRequests && !scheduler_->HasUnfinishedRequests()) break;
      ASSERT_LT(++step, 20000) << "scheduler stopped making progress";
      DoStep();
      if (!live_.empty() && U(0, 40) == 0) Abort(RandomLive());
    }
    const SchedulerStats s = scheduler_->stats();
    EXPECT_EQ(s.num_waiting + s.num_running, 0);
    EXPECT_EQ(s.kv_cache.num_used_blocks, 0) << "leaked KV blocks";
    EXPECT_EQ(s.kv_cache.num_free_blocks + s.kv_cache.num_evictable_blocks,
              config_.kv_cache.num_blocks);
    EXPECT_TRUE(scheduler_->block_manager().CheckConsistency().ok());
    totals_->preemptions += s.num_preemptions;
    totals_->hit_tokens += s.kv_cache.prefix_cache_hit_tokens;
  }

 private:
  int U(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  Tokens RandomTokens(int n) {
    Tokens t(n);
    for (auto& x : t) x = U(0, 9);
    return t;
  }
  std::string RandomLive() {
    auto it = live_.begin();
    std::advance(it, U(0, live_.size() - 1));
    return it->first;
  }

  void AddRandomRequest() {
    NewRequest r;
    r.request_id = "r" + std::to_string(next_id_++);
    const Tokens& base = bases_[U(0, bases_.size() - 1)];
    r.prompt_token_ids.assign(base.begin(), base.begin() + U(0, base.size()));
    const Tokens tail = RandomTokens(U(1, 20));
    r.prompt_token_ids.insert(r.prompt_token_ids.end(), tail.begin(),
                              tail.end());
    r.max_tokens = U(1, 24);
    r.priority = U(0, 2);
    const int n = r.prompt_token_ids.size(), bs = config_.kv_cache.block_size;
    const bool expect_reject =
        n + r.max_tokens > config_.max_model_len ||
        (!config_.enable_chunked_prefill &&
         n > config_.max_num_batched_tokens) ||
        (n + r.max_tokens - 1 + bs - 1) / bs > config_.kv_cache.num_blocks;
    SimRequest sim{r.prompt_token_ids, n, r.max_tokens, 0};
    const std::string id = r.request_id;
    const absl::Status st = scheduler_->AddRequest(std::move(r));
    ASSERT_EQ(st.ok(), !expect_reject) << st;
    if (st.ok()) {
      live_[id] = sim;
    } else {
      ++totals_->rejected;
    }
  }

  void Abort(const std::string& id) {
    ASSERT_TRUE(scheduler_->Abort(id).ok());
    live_.erase(id);
    ++totals_->aborts;
  }

  int PrefixId(const Tokens& t, int len) {
    return prefix_ids_
        .emplace(Tokens(t.begin(), t.begin() + len), prefix_ids_.size())
        .first->second;
  }

  // The fake model: checks the contract and "computes" one step, reading
  // and writing its KV memory through the ForwardBatch it would be given.
  void Execute(const SchedulerOutput& out, ModelRunnerOutput* res) {
    const BlockManager& bm = scheduler_->block_manager();
    const int bs = out.block_size;
    const models::ForwardBatch batch = BuildForwardBatch(out);
    ASSERT_EQ(batch.num_seqs(), int(out.seqs.size()));
    int sample_rows = 0;
    std::set<std::string> seen;
    int total = 0;
    bool seen_non_decode = false, seen_new = false;
    for (const ScheduledSequence& q : out.seqs) {
      ASSERT_TRUE(seen.insert(q.request_id).second) << "scheduled twice";
      ASSERT_TRUE(live_.count(q.request_id));
      SimRequest& r = live_[q.request_id];
      total += q.num_new_tokens();
      const bool decode =
          !q.newly_admitted && q.sample && q.num_new_tokens() == 1;
      ASSERT_FALSE(decode && seen_non_decode) << "decode after a prefill";
      seen_non_decode |= !decode;
      ASSERT_FALSE(!q.newly_admitted && seen_new) << "running after new";
      seen_new |= q.newly_admitted;
      if (q.newly_admitted) {
        r.computed = q.start_position;  // prefix-cache hit, verified below
        if (q.num_new_tokens() < int(r.tokens.size()) - q.start_position)
          ++totals_->chunked;
      }
      ASSERT_EQ(q.start_position, r.computed);
      ASSERT_EQ(q.seq_len, q.start_position + q.num_new_tokens());
      ASSERT_LE(q.seq_len, int(r.tokens.size()));
      ASSERT_EQ(q.sample, q.seq_len == int(r.tokens.size()));
      ASSERT_EQ(q.token_ids, Tokens(r.tokens.begin() + q.start_position,
                                    r.tokens.begin() + q.seq_len));
      ASSERT_GE(int(q.block_ids.size()) * bs, q.seq_len);
      const int s = &q - out.seqs.data(), row0 = batch.query_start_loc[s];
      ASSERT_EQ(batch.query_start_loc[s + 1] - row0, q.num_new_tokens());
      ASSERT_EQ(batch.seq_lens[s], q.seq_len);
      auto slot = [&](int p) {
        return batch.block_tables[s * batch.max_blocks_per_seq + p / bs] * bs +
               p % bs;
      };
      for (int p = 0; p < q.start_position; ++p) {
        auto it = kv_.find(slot(p));
        ASSERT_TRUE(it != kv_.end() && it->second == PrefixId(r.tokens, p + 1))
            << q.request_id << " reads a wrong KV at position " << p;
      }
      for (int p = q.start_position; p < q.seq_len; ++p) {
        const int32_t block = q.block_ids[p / bs];
        ASSERT_EQ(bm.RefCount(block), 1) << "writes a shared block";
        ASSERT_FALSE(bm.IsCached(block)) << "writes a cached block";
        const int row = row0 + p - q.start_position;
        ASSERT_EQ(batch.positions[row], p);
        ASSERT_EQ(batch.token_ids[row], r.tokens[p]);
        ASSERT_EQ(batch.slot_mapping[row], slot(p));
        kv_[batch.slot_mapping[row]] = PrefixId(r.tokens, p + 1);
      }
      if (q.sample) {
        ASSERT_LT(sample_rows, int(batch.logits_indices.size()));
        ASSERT_EQ(batch.logits_indices[sample_rows++],
                  row0 + q.num_new_tokens() - 1);
      }
      r.computed = q.seq_len;
      res->sampled_token_ids.push_back(q.sample ? U(0, 9) : kNoSampledToken);
    }
    ASSERT_EQ(sample_rows, int(batch.logits_indices.size()));
    ASSERT_EQ(total, out.num_batched_tokens);
    ASSERT_LE(total, config_.max_num_batched_tokens);
    ASSERT_LE(int(out.seqs.size()), config_.max_num_seqs);
  }

  void DoStep() {
    const bool had_work = scheduler_->HasUnfinishedRequests();
    const SchedulerOutput out = scheduler_->Schedule();
    ASSERT_EQ(out.empty(), !had_work) << "work left but nothing scheduled";
    for (const std::string& id : out.preempted_request_ids) {
      ASSERT_TRUE(live_.count(id));
      ASSERT_EQ(scheduler_->GetRequest(id)->status, RequestStatus::kPreempted);
      live_[id].computed = 0;
    }
    ModelRunnerOutput res;
    Execute(out, &res);
    if (::testing::Test::HasFailure()) return;
    if (!out.empty() && U(0, 15) == 0)
      Abort(out.seqs[U(0, out.seqs.size() - 1)].request_id);
    auto updates = scheduler_->Update(out, res);
    ASSERT_TRUE(updates.ok()) << updates.status();
    size_t u = 0;
    for (size_t i = 0; i < out.seqs.size(); ++i) {
      const ScheduledSequence& q = out.seqs[i];
      if (!q.sample || !live_.count(q.request_id)) continue;
      ASSERT_LT(u, updates->size());
      const RequestUpdate& up = (*updates)[u++];
      ASSERT_EQ(up.request_id, q.request_id);
      ASSERT_EQ(up.new_token_id, res.sampled_token_ids[i]);
      SimRequest& r = live_[q.request_id];
      r.tokens.push_back(up.new_token_id);
      ASSERT_EQ(up.num_output_tokens, int(r.tokens.size()) - r.num_prompt);
      ASSERT_LE(up.num_output_tokens, r.max_tokens);
      ASSERT_EQ(up.finished, up.num_output_tokens == r.max_tokens);
      if (up.finished) {
        ASSERT_EQ(scheduler_->GetRequest(q.request_id), nullptr);
        live_.erase(q.request_id);
        ++totals_->lengths;
      } else if (U(0, 20) == 0) {  // the engine saw a stop token
        ASSERT_TRUE(scheduler_->Finish(q.request_id, FinishReason::kStop).ok());
        live_.erase(q.request_id);
        ++totals_->stops;
      } else {
        const Request* sr = scheduler_->GetRequest(q.request_id);
        ASSERT_EQ(sr->token_ids, r.tokens);
      }
    }
    ASSERT_EQ(u, updates->size());
  }

  std::mt19937_64 rng_;
  Totals* totals_;
  SchedulerConfig config_;
  std::vector<Tokens> bases_;
  std::unique_ptr<Scheduler> scheduler_;
  std::map<std::string, SimRequest> live_;
  std::map<int32_t, int> kv_;
  std::map<Tokens, int> prefix_ids_;
  int next_id_ = 0;
};

TEST(SchedulerSimTest, RandomWorkloadsFinishWithoutLeaks) {
  Totals totals;
  for (uint64_t seed = 0; seed < 300 && !HasFailure(); ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    Sim(seed, &totals).Run();
  }
  // The workload must exercise every path it claims to test.
  EXPECT_GT(totals.preemptions, 100);
  EXPECT_GT(totals.hit_tokens, 1000);
  EXPECT_GT(totals.aborts, 100);
  EXPECT_GT(totals.stops, 100);
  EXPECT_GT(totals.lengths, 100);
  EXPECT_GT(totals.rejected, 10);
  EXPECT_GT(totals.chunked, 100);
  std::printf(
      "preemptions %ld hit_tokens %ld aborts %ld stops %ld lengths %ld "
      "rejected %ld chunked %ld\n",
      long(totals.preemptions), long(totals.hit_tokens), long(totals.aborts),
      long(totals.stops), long(totals.lengths), long(totals.rejected),
      long(totals.chunked));
}

}  // namespace
}  // namespace infernum::worker
