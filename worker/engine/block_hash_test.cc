#include "worker/engine/block_hash.h"

#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace infernum::worker {
namespace {

std::vector<int32_t> RandomTokens(std::mt19937_64& rng, int n) {
  std::uniform_int_distribution<int32_t> dist(0, 150000);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = dist(rng);
  return t;
}

TEST(BlockHashTest, FullBlocksChainFromRootAndSkipPartialBlock) {
  std::mt19937_64 rng(1);
  const std::vector<int32_t> tokens = RandomTokens(rng, 35);
  const std::vector<BlockHash> hashes = HashFullBlocks(tokens, 16);
  ASSERT_EQ(hashes.size(), 2u);
  const std::span<const int32_t> all(tokens);
  EXPECT_EQ(hashes[0], HashBlockTokens(kRootBlockHash, all.subspan(0, 16)));
  EXPECT_EQ(hashes[1], HashBlockTokens(hashes[0], all.subspan(16, 16)));
  // The chained hashes of a prefix do not depend on what follows it.
  EXPECT_EQ(HashFullBlocks(all.first(32), 16), hashes);
}

TEST(BlockHashTest, EveryTokenParentAndOrderMatter) {
  std::mt19937_64 rng(2);
  const std::vector<int32_t> block = RandomTokens(rng, 16);
  const BlockHash base = HashBlockTokens(kRootBlockHash, block);
  EXPECT_EQ(base, HashBlockTokens(kRootBlockHash, block));  // pure
  EXPECT_NE(base, HashBlockTokens(kRootBlockHash + 1, block));
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> changed = block;
    changed[i] ^= 1;
    EXPECT_NE(base, HashBlockTokens(kRootBlockHash, changed)) << i;
  }
  std::vector<int32_t> swapped = block;
  std::swap(swapped[3], swapped[4]);
  EXPECT_NE(base, HashBlockTokens(kRootBlockHash, swapped));
  // Length is part of the input: [0] and [0, 0] differ.
  EXPECT_NE(HashBlockTokens(kRootBlockHash, std::vector<int32_t>{0}),
            HashBlockTokens(kRootBlockHash, std::vector<int32_t>{0, 0}));
}

// 200k distinct blocks: no 64-bit collision, and the low byte (what a small
// hash table indexes by) is close to uniform (chi-square, 255 degrees of
// freedom; a fixed seed, so the bound is deterministic).
TEST(BlockHashTest, NoCollisionsAndUniformLowBits) {
  std::set<BlockHash> seen;
  std::vector<int> buckets(256, 0);
  constexpr int kNum = 200000;
  // Near-identical inputs stress the mixing: a counter in one position.
  std::vector<int32_t> block(16);
  for (int k = 0; k < 16; ++k) block[k] = 1000000 + k;  // > any counter
  for (int i = 0; i < kNum; ++i) {
    block[i % 16] = i;
    const BlockHash h = HashBlockTokens(kRootBlockHash, block);
    seen.insert(h);
    ++buckets[h & 0xff];
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNum));
  const double expected = kNum / 256.0;
  double chi2 = 0;
  for (int c : buckets) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 350.0);
}

}  // namespace
}  // namespace infernum::worker
