// Randomized property test of BlockManager against an independent reference
// model. The model knows nothing of hashes, block ids, free lists or linked
// lists: it keys cached blocks by their full token prefix, keeps "logical
// blocks" with reference counts, and finds the LRU victim by a linear scan of
// release timestamps. Besides comparing every prediction (cache hits,
// allocation success, block counts, counters), a simulated KV memory checks
// that every live sequence's computed slots still hold what it wrote and that
// no shared or cached block is ever written.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/block_manager.h"

namespace infernum::worker {
namespace {

using Tokens = std::vector<int32_t>;

class RefModel {
 public:
  RefModel(int num_blocks, int block_size)
      : num_blocks_(num_blocks), bs_(block_size) {}

  struct Table {
    std::vector<int> blocks;  // logical block ids
    int num_committed = 0;
    int chain = -1;  // logical block holding the last committed content
    bool broken = false;
  };

  std::vector<int> Lookup(const Tokens& t) const {
    std::vector<int> hit;
    const int max_blocks = t.empty() ? 0 : (int(t.size()) - 1) / bs_;
    for (int k = 1; k <= max_blocks; ++k) {
      auto it = cache_.find(Tokens(t.begin(), t.begin() + k * bs_));
      if (it == cache_.end()) break;
      hit.push_back(it->second);
    }
    return hit;
  }
  int NumBlocks(int n) const { return (n + bs_ - 1) / bs_; }
  int Available() const { return num_free_ + NumEvictable(); }

  bool Allocate(const Tokens& t, int slots, Table* table) {
    const std::vector<int> hit = Lookup(t);
    int evictable_hits = 0;
    for (int id : hit) evictable_hits += blocks_[id].refs == 0;
    const int fresh = std::max(NumBlocks(slots) - int(hit.size()), 0);
    if (fresh > Available() - evictable_hits) return false;
    for (int id : hit) ++blocks_[id].refs;
    table->blocks = hit;
    table->num_committed = hit.size();
    table->chain = hit.empty() ? -1 : hit.back();
    for (int i = 0; i < fresh; ++i) table->blocks.push_back(TakeFresh());
    query_tokens_ += t.size();
    hit_tokens_ += hit.size() * bs_;
    return true;
  }
  bool Grow(Table* table, int slots) {
    const int fresh = NumBlocks(slots) - int(table->blocks.size());
    if (fresh > Available()) return false;
    for (int i = 0; i < fresh; ++i) table->blocks.push_back(TakeFresh());
    return true;
  }
  void Commit(Table* table, const Tokens& t, int num_computed) {
    const int full = std::min<int>({num_computed, int(t.size()),
                                    int(table->blocks.size()) * bs_}) /
                     bs_;
    for (int j = table->num_committed; j < full; ++j) {
      table->num_committed = j + 1;
      if (table->broken) continue;
      if (j > 0 && !blocks_[table->chain].registered) {
        table->broken = true;
        continue;
      }
      Tokens key(t.begin(), t.begin() + (j + 1) * bs_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        table->chain = it->second;
        continue;
      }
      const int id = table->blocks[j];
      blocks_[id].registered = true;
      blocks_[id].key = key;
      cache_[key] = id;
      table->chain = id;
    }
  }
  void Release(Table* table) {
    for (auto it = table->blocks.rbegin(); it != table->blocks.rend(); ++it) {
      Logical& b = blocks_[*it];
      if (--b.refs > 0) continue;
      if (b.registered) {
        b.released_at = clock_++;
      } else {
        ++num_free_;
      }
    }
    table->blocks.clear();
  }

  int NumUsed() const {
    int n = 0;
    for (const Logical& b : blocks_) n += b.refs > 0;
    return n;
  }
  int NumEvictable() const {
    int n = 0;
    for (const Logical& b : blocks_) n += b.refs == 0 && b.registered;
    return n;
  }
  int num_free() const { return num_free_; }
  int num_cached() const { return cache_.size(); }
  int64_t query_tokens() const { return query_tokens_; }
  int64_t hit_tokens() const { return hit_tokens_; }

 private:
  struct Logical {
    int refs = 1;
    bool registered = false;
    Tokens key;
    int64_t released_at = 0;
  };
  int TakeFresh() {
    if (num_free_ == 0) {
      int victim = -1;
      for (int i = 0; i < int(blocks_.size()); ++i) {
        const Logical& b = blocks_[i];
        if (b.refs == 0 && b.registered &&
            (victim < 0 || b.released_at < blocks_[victim].released_at)) {
          victim = i;
        }
      }
      EXPECT_GE(victim, 0);
      // Uncache the victim's prefix and every cached extension of it.
      const Tokens prefix = blocks_[victim].key;
      for (Logical& b : blocks_) {
        if (!b.registered || b.key.size() < prefix.size() ||
            !std::equal(prefix.begin(), prefix.end(), b.key.begin())) {
          continue;
        }
        cache_.erase(b.key);
        b.registered = false;
        if (b.refs == 0) ++num_free_;
      }
    }
    --num_free_;
    blocks_.push_back(Logical{});
    return blocks_.size() - 1;
  }

  const int num_blocks_;
  const int bs_;
  int num_free_ = num_blocks_;
  std::vector<Logical> blocks_;  // grows forever; fine for a test
  std::map<Tokens, int> cache_;
  int64_t clock_ = 0;
  int64_t query_tokens_ = 0;
  int64_t hit_tokens_ = 0;
};

struct Seq {
  BlockTable table;
  RefModel::Table ref;
  Tokens tokens;
  int num_computed = 0;
};

class Simulation {
 public:
  Simulation(uint64_t seed, int hash_bits)
      : rng_(seed), exact_(hash_bits == 64) {
    config_.num_blocks = Uniform(3, 40);
    const int sizes[] = {1, 2, 3, 4, 16};
    config_.block_size = sizes[Uniform(0, 4)];
    config_.hash_bits_for_testing = hash_bits;
    vocab_ = std::vector<int>{2, 4, 50}[Uniform(0, 2)];
    manager_ = BlockManager::Create(config_).value();
    ref_ = std::make_unique<RefModel>(config_.num_blocks, config_.block_size);
  }
  ~Simulation() { seqs_.clear(); }

  // Returns the manager's counters just before the final releases.
  BlockManagerStats Run(int num_ops) {
    for (int op = 0; op < num_ops && !::testing::Test::HasFailure(); ++op) {
      const int kind = Uniform(0, 9);
      if (kind <= 2) {
        DoAllocate();
      } else if (kind <= 6) {
        DoCompute();
      } else if (kind <= 8) {
        DoRelease();
      } else {
        const Tokens t = RandomTokens();
        if (exact_) {
          EXPECT_EQ(manager_->NumCachedPrefixTokens(t),
                    int(ref_->Lookup(t).size()) * config_.block_size);
        }
      }
      CheckInvariants();
    }
    const BlockManagerStats before = manager_->stats();
    while (!seqs_.empty() && !::testing::Test::HasFailure()) DoRelease();
    const BlockManagerStats s = manager_->stats();
    EXPECT_EQ(s.num_used_blocks, 0);
    EXPECT_EQ(s.num_free_blocks + s.num_evictable_blocks, config_.num_blocks);
    CheckInvariants();
    return before;
  }

 private:
  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  int32_t RandomToken() { return Uniform(0, vocab_ - 1); }

  // Often extends a prefix of an earlier sequence, so prefixes get shared.
  Tokens RandomTokens() {
    Tokens t;
    if (!history_.empty() && Uniform(0, 3) > 0) {
      const Tokens& base = history_[Uniform(0, history_.size() - 1)];
      t.assign(base.begin(), base.begin() + Uniform(0, base.size()));
    }
    const int extra = Uniform(t.empty() ? 1 : 0, 20);
    for (int i = 0; i < extra; ++i) t.push_back(RandomToken());
    if (t.empty()) t.push_back(RandomToken());
    return t;
  }

  void DoAllocate() {
    auto seq = std::make_unique<Seq>();
    seq->tokens = RandomTokens();
    const int cached = manager_->NumCachedPrefixTokens(seq->tokens);
    ASSERT_EQ(cached % config_.block_size, 0);
    ASSERT_LT(cached, int(seq->tokens.size()));
    if (exact_) {
      ASSERT_EQ(cached,
                int(ref_->Lookup(seq->tokens).size()) * config_.block_size);
    }
    const int slots = cached + Uniform(1, seq->tokens.size() - cached);
    const bool can = manager_->CanAllocate(seq->tokens, slots);
    auto table = manager_->Allocate(seq->tokens, slots);
    ASSERT_EQ(can, table.ok()) << table.status();
    if (exact_) {
      ASSERT_EQ(ref_->Allocate(seq->tokens, slots, &seq->ref), table.ok());
    }
    if (!table.ok()) {
      ASSERT_EQ(table.status().code(), absl::StatusCode::kResourceExhausted);
      return;
    }
    seq->table = std::move(table).value();
    ASSERT_EQ(seq->table.num_cached_tokens(), cached);
    ASSERT_GE(seq->table.capacity(), slots);
    seq->num_computed = cached;  // the hit blocks' KV must be there already
    history_.push_back(seq->tokens);
    seqs_.push_back(std::move(seq));
  }

  // Computes 1..8 more tokens of a live sequence (generating new ones past
  // its end, like decoding), then commits them to the prefix cache.
  void DoCompute() {
    if (seqs_.empty()) return;
    Seq& seq = *seqs_[Uniform(0, seqs_.size() - 1)];
    const int n = Uniform(1, 8);
    const int target = seq.num_computed + n;
    const bool can = manager_->CanGrow(seq.table, target);
    const absl::Status st = manager_->Grow(seq.table, target);
    ASSERT_EQ(can, st.ok()) << st;
    if (exact_) {
      ASSERT_EQ(ref_->Grow(&seq.ref, target), st.ok());
    }
    if (!st.ok()) return;
    while (int(seq.tokens.size()) < target) seq.tokens.push_back(RandomToken());
    for (int p = seq.num_computed; p < target; ++p) {
      const int32_t block = seq.table.block_ids()[p / config_.block_size];
      ASSERT_EQ(manager_->RefCount(block), 1) << "write into a shared block";
      ASSERT_FALSE(manager_->IsCached(block)) << "write into a cached block";
      kv_[seq.table.SlotOf(p)] = PrefixId(seq.tokens, p + 1);
    }
    seq.num_computed = target;
    manager_->CommitComputedTokens(seq.table, seq.tokens, target);
    if (exact_) ref_->Commit(&seq.ref, seq.tokens, target);
    history_.push_back(seq.tokens);
  }

  void DoRelease() {
    if (seqs_.empty()) return;
    const int i = Uniform(0, seqs_.size() - 1);
    if (exact_) ref_->Release(&seqs_[i]->ref);
    seqs_.erase(seqs_.begin() + i);  // ~BlockTable releases
  }

  int PrefixId(const Tokens& t, int len) {
    return prefix_ids_
        .emplace(Tokens(t.begin(), t.begin() + len), prefix_ids_.size())
        .first->second;
  }

  void CheckInvariants() {
    ASSERT_TRUE(manager_->CheckConsistency().ok())
        << manager_->CheckConsistency();
    std::vector<int> owners(config_.num_blocks, 0);
    for (const auto& seq : seqs_) {
      std::vector<int32_t> ids = seq->table.block_ids();
      std::sort(ids.begin(), ids.end());
      ASSERT_TRUE(std::adjacent_find(ids.begin(), ids.end()) == ids.end())
          << "a table holds a block twice";
      for (int32_t id : ids) ++owners[id];
      // Every computed slot still holds exactly this sequence's prefix.
      for (int p = 0; p < seq->num_computed; ++p) {
        auto it = kv_.find(seq->table.SlotOf(p));
        ASSERT_TRUE(it != kv_.end()) << "reads an unwritten slot " << p;
        ASSERT_EQ(it->second, PrefixId(seq->tokens, p + 1)) << "KV corrupted";
      }
    }
    int evictable = 0, cached = 0;
    for (int id = 0; id < config_.num_blocks; ++id) {
      ASSERT_EQ(manager_->RefCount(id), owners[id]) << "block " << id;
      cached += manager_->IsCached(id);
      evictable += manager_->IsCached(id) && owners[id] == 0;
    }
    const BlockManagerStats s = manager_->stats();
    ASSERT_EQ(s.num_used_blocks + s.num_free_blocks + s.num_evictable_blocks,
              config_.num_blocks);
    ASSERT_EQ(s.num_evictable_blocks, evictable);
    ASSERT_EQ(s.num_cached_blocks, cached);
    if (!exact_) return;
    ASSERT_EQ(s.num_used_blocks, ref_->NumUsed());
    ASSERT_EQ(s.num_evictable_blocks, ref_->NumEvictable());
    ASSERT_EQ(s.num_free_blocks, ref_->num_free());
    ASSERT_EQ(s.num_cached_blocks, ref_->num_cached());
    ASSERT_EQ(s.prefix_cache_query_tokens, ref_->query_tokens());
    ASSERT_EQ(s.prefix_cache_hit_tokens, ref_->hit_tokens());
  }

  std::mt19937_64 rng_;
  const bool exact_;  // full-strength hash: compare against the model
  BlockManagerConfig config_;
  int vocab_ = 2;
  std::unique_ptr<BlockManager> manager_;  // before seqs_: outlives them
  std::unique_ptr<RefModel> ref_;
  std::vector<std::unique_ptr<Seq>> seqs_;
  std::vector<Tokens> history_;
  std::map<int32_t, int> kv_;  // slot -> id of the prefix whose KV it holds
  std::map<Tokens, int> prefix_ids_;
};

TEST(BlockManagerPropertyTest, MatchesReferenceModel) {
  int64_t hit_tokens = 0, evictions = 0, full_failures = 0;
  for (uint64_t seed = 0; seed < 400 && !HasFailure(); ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    Simulation sim(seed, /*hash_bits=*/64);
    const BlockManagerStats s = sim.Run(/*num_ops=*/300);
    hit_tokens += s.prefix_cache_hit_tokens;
    evictions += s.num_evicted_blocks;
    full_failures += s.num_free_blocks == 0;
  }
  // The simulation must actually exercise hits, evictions and a full pool.
  EXPECT_GT(hit_tokens, 10000);
  EXPECT_GT(evictions, 1000);
  EXPECT_GT(full_failures, 10);
}

// With 1..6-bit hashes nearly every lookup collides: the model's counts no
// longer apply, but every structural invariant and the KV-integrity check
// (no wrong prefix hit) must still hold.
TEST(BlockManagerPropertyTest, CollisionsNeverCauseWrongHits) {
  for (uint64_t seed = 0; seed < 300 && !HasFailure(); ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    Simulation sim(seed + 1000, /*hash_bits=*/1 + seed % 6);
    sim.Run(/*num_ops=*/300);
  }
}

}  // namespace
}  // namespace infernum::worker
