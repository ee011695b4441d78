#include "worker/engine/block_manager.h"

#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace infernum::worker {
namespace {

std::unique_ptr<BlockManager> Make(int num_blocks, int block_size = 16,
                                   bool prefix_caching = true) {
  BlockManagerConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.enable_prefix_caching = prefix_caching;
  return BlockManager::Create(c).value();
}

std::vector<int32_t> Range(int begin, int end) {
  std::vector<int32_t> v(end - begin);
  std::iota(v.begin(), v.end(), begin);
  return v;
}

std::vector<int32_t> Concat(std::vector<int32_t> a,
                            const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Allocates `tokens` whole and marks all of them computed.
BlockTable Compute(BlockManager& m, const std::vector<int32_t>& tokens) {
  BlockTable t = m.Allocate(tokens, tokens.size()).value();
  m.CommitComputedTokens(t, tokens, tokens.size());
  return t;
}

TEST(BlockManagerTest, RejectsBadConfig) {
  BlockManagerConfig c;
  EXPECT_EQ(BlockManager::Create(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c.num_blocks = 4;
  c.block_size = 0;
  EXPECT_FALSE(BlockManager::Create(c).ok());
}

TEST(BlockManagerTest, AllocateGrowAndRaiiRelease) {
  auto m = Make(8, 4);
  {
    BlockTable t = m->Allocate(Range(0, 6), 6).value();
    EXPECT_EQ(t.num_blocks(), 2);
    EXPECT_EQ(t.capacity(), 8);
    EXPECT_EQ(t.SlotOf(5), t.block_ids()[1] * 4 + 1);
    EXPECT_EQ(m->stats().num_used_blocks, 2);
    EXPECT_TRUE(m->CanGrow(t, 8));  // already holds 8 slots
    ASSERT_TRUE(m->Grow(t, 9).ok());
    EXPECT_EQ(t.num_blocks(), 3);
    BlockTable moved = std::move(t);  // ownership moves, nothing freed
    EXPECT_FALSE(t.attached());
    EXPECT_EQ(moved.num_blocks(), 3);
    EXPECT_EQ(m->stats().num_used_blocks, 3);
    moved.Release();
    moved.Release();  // idempotent: no double free
    EXPECT_EQ(m->stats().num_used_blocks, 0);
    BlockTable again = m->Allocate(Range(0, 3), 3).value();
    EXPECT_EQ(m->stats().num_used_blocks, 1);
  }  // destructor releases
  const BlockManagerStats s = m->stats();
  EXPECT_EQ(s.num_used_blocks, 0);
  EXPECT_EQ(s.num_free_blocks, 8);
  EXPECT_DOUBLE_EQ(s.usage(), 0.0);
}

TEST(BlockManagerTest, ExhaustionChangesNothing) {
  auto m = Make(4, 4);
  BlockTable a = m->Allocate(Range(0, 12), 12).value();  // 3 blocks
  EXPECT_FALSE(m->CanAllocate(Range(100, 108), 8));
  auto b = m->Allocate(Range(100, 108), 8);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(m->CanGrow(a, 20));
  EXPECT_EQ(m->Grow(a, 20).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(a.num_blocks(), 3);
  EXPECT_EQ(m->stats().num_used_blocks, 3);
  EXPECT_DOUBLE_EQ(m->stats().usage(), 0.75);
  EXPECT_TRUE(m->Grow(a, 16).ok());
  EXPECT_TRUE(m->CheckConsistency().ok());
}

TEST(BlockManagerTest, SharedPrefixIsReusedAndOnlyFullComputedBlocksCache) {
  auto m = Make(32);
  const std::vector<int32_t> prefix = Range(1000, 1100);  // 100 tokens
  const auto p1 = Concat(prefix, Range(0, 10));
  const auto p2 = Concat(prefix, Range(50, 70));
  BlockTable a = m->Allocate(p1, p1.size()).value();
  // Nothing is cached before its KV is computed.
  EXPECT_EQ(m->NumCachedPrefixTokens(p2), 0);
  m->CommitComputedTokens(a, p1, 40);  // 2 full blocks computed so far
  EXPECT_EQ(m->NumCachedPrefixTokens(p2), 32);
  m->CommitComputedTokens(a, p1, p1.size());   // 110 tokens: 6 full blocks
  EXPECT_EQ(m->stats().num_cached_blocks, 6);  // the partial 7th never
  BlockTable b = m->Allocate(p2, p2.size()).value();
  EXPECT_EQ(b.num_cached_tokens(), 96);  // floor(100 / 16) * 16
  for (int j = 0; j < 6; ++j) {
    EXPECT_EQ(b.block_ids()[j], a.block_ids()[j]);
    EXPECT_EQ(m->RefCount(a.block_ids()[j]), 2);
  }
  EXPECT_NE(b.block_ids()[6], a.block_ids()[6]);
  const BlockManagerStats s = m->stats();
  EXPECT_EQ(s.prefix_cache_requests, 2);
  EXPECT_EQ(s.prefix_cache_query_tokens, int64_t(p1.size() + p2.size()));
  EXPECT_EQ(s.prefix_cache_hit_tokens, 96);
  // Router agreement: registered hashes are HashFullBlocks of the sequence.
  const std::vector<BlockHash> hashes = HashFullBlocks(p1, 16);
  for (int j = 0; j < 6; ++j)
    EXPECT_EQ(m->CachedHash(a.block_ids()[j]), hashes[j]);
  EXPECT_FALSE(m->CachedHash(a.block_ids()[6]).has_value());
}

TEST(BlockManagerTest, FullyCachedPromptLeavesLastTokenToCompute) {
  auto m = Make(16);
  const auto p = Range(0, 96);  // exactly 6 blocks
  BlockTable a = Compute(*m, p);
  EXPECT_EQ(m->NumCachedPrefixTokens(p), 80);
  EXPECT_EQ(m->NumCachedPrefixTokens(Range(0, 97)), 96);
  EXPECT_EQ(m->NumCachedPrefixTokens(Range(0, 1)), 0);
}

TEST(BlockManagerTest, FreedCachedBlocksStayReusableUntilEvictedTailFirst) {
  auto m = Make(4, 4);
  const auto p = Range(0, 13);  // 3 full blocks + 1 token
  Compute(*m, p);               // released at once
  BlockManagerStats s = m->stats();
  EXPECT_EQ(s.num_evictable_blocks, 3);
  EXPECT_EQ(s.num_free_blocks, 1);
  EXPECT_EQ(m->NumCachedPrefixTokens(p), 12);
  // Hitting evictable blocks must not count them as free capacity too:
  // 3 hits + 2 fresh > 4 blocks.
  EXPECT_FALSE(m->CanAllocate(p, 20));
  EXPECT_TRUE(m->CanAllocate(p, 16));
  // Two fresh blocks for unrelated tokens: the free one, then the LRU
  // victim, which is the sequence's LAST full block (released first).
  BlockTable other = m->Allocate(Range(500, 508), 8).value();
  EXPECT_EQ(m->stats().num_evicted_blocks, 1);
  EXPECT_EQ(m->NumCachedPrefixTokens(p), 8);
  other.Release();
  EXPECT_EQ(m->stats().num_evictable_blocks, 2);
  EXPECT_TRUE(m->CheckConsistency().ok());
}

// A sequence whose first block duplicates a cached block registers its
// second block under the cached one; evicting that parent uncaches the child
// even while it is in use, and the child still frees normally later.
TEST(BlockManagerTest, EvictingParentUncachesDescendants) {
  auto m = Make(5, 2);
  const auto first = Range(0, 2);
  BlockTable dup = m->Allocate(Concat(first, Range(10, 13)), 5).value();
  Compute(*m, Concat(first, {7}));  // caches `first` elsewhere, then frees it
  const auto dup_tokens = Concat(first, Range(10, 13));
  m->CommitComputedTokens(dup, dup_tokens, 4);
  const int32_t child = dup.block_ids()[1];
  EXPECT_FALSE(m->IsCached(dup.block_ids()[0]));  // duplicate content
  EXPECT_TRUE(m->IsCached(child));
  EXPECT_EQ(m->NumCachedPrefixTokens(dup_tokens), 4);
  // Two fresh blocks: the free one, then the cached parent (the only
  // evictable block) is evicted.
  BlockTable fresh = m->Allocate(Range(100, 104), 4).value();
  EXPECT_FALSE(m->IsCached(child));
  EXPECT_EQ(m->RefCount(child), 1);
  EXPECT_EQ(m->NumCachedPrefixTokens(dup_tokens), 0);
  EXPECT_TRUE(m->CheckConsistency().ok());
  dup.Release();
  EXPECT_EQ(m->stats().num_free_blocks, 3);
  EXPECT_TRUE(m->CheckConsistency().ok());
}

// With 1-bit hashes almost everything collides; content checks keep every
// answer exact.
TEST(BlockManagerTest, HashCollisionsNeverProduceWrongHits) {
  BlockManagerConfig c;
  c.num_blocks = 64;
  c.block_size = 4;
  c.hash_bits_for_testing = 1;
  auto m = BlockManager::Create(c).value();
  std::vector<BlockTable> live;
  for (int i = 0; i < 8; ++i)
    live.push_back(Compute(*m, Range(i * 100, i * 100 + 9)));
  for (int i = 0; i < 8; ++i) {
    // Own prefix: hit only if this sequence won its hash slots; never more.
    const int cached = m->NumCachedPrefixTokens(Range(i * 100, i * 100 + 9));
    EXPECT_TRUE(cached == 0 || cached == 4 || cached == 8) << cached;
    // A different sequence never hits, whatever its hash.
    EXPECT_EQ(m->NumCachedPrefixTokens(Range(i * 100 + 1, i * 100 + 10)), 0);
  }
  // The first sequence registered its first block; its second too unless
  // its 1-bit hash equals the first's (then the slot is taken).
  const std::vector<BlockHash> h = HashFullBlocks(Range(0, 9), 4);
  EXPECT_EQ(m->NumCachedPrefixTokens(Range(0, 9)),
            (h[0] & 1) != (h[1] & 1) ? 8 : 4);
  EXPECT_TRUE(m->CheckConsistency().ok());
}

TEST(BlockManagerTest, PrefixCachingDisabled) {
  auto m = Make(16, 4, /*prefix_caching=*/false);
  const auto p = Range(0, 20);
  Compute(*m, p);
  EXPECT_EQ(m->NumCachedPrefixTokens(p), 0);
  const BlockManagerStats s = m->stats();
  EXPECT_EQ(s.num_cached_blocks, 0);
  EXPECT_EQ(s.num_free_blocks, 16);
}

TEST(BlockManagerDeathTest, TableOutlivingManagerIsAProgrammerError) {
  EXPECT_DEATH(
      {
        auto m = Make(4);
        BlockTable* leak = new BlockTable(m->Allocate(Range(0, 3), 3).value());
        (void)leak;
        m.reset();
      },
      "outlive");
}

}  // namespace
}  // namespace infernum::worker
