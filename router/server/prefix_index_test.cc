#include "router/server/prefix_index.h"

#include <gtest/gtest.h>

#include <random>
#include <span>
#include <vector>

#include "worker/engine/block_hash.h"

namespace infernum::router {
namespace {

std::vector<BlockHash> Hashes(std::initializer_list<BlockHash> list) {
  return std::vector<BlockHash>(list);
}

TEST(PrefixIndexTest, MatchCountsLeadingPresentBlocksOnly) {
  PrefixIndex index(100);
  EXPECT_EQ(index.MatchPrefix(Hashes({1, 2, 3})), 0);
  index.Insert(Hashes({1, 2, 3}));
  EXPECT_EQ(index.size(), 3);
  EXPECT_EQ(index.MatchPrefix(Hashes({1, 2, 3, 4})), 3);
  EXPECT_EQ(index.MatchPrefix(Hashes({1, 2, 9, 3})), 2);
  EXPECT_EQ(index.MatchPrefix(Hashes({9, 1, 2})), 0);  // Stops at a miss.
  EXPECT_EQ(index.MatchPrefix({}), 0);
  index.Insert(Hashes({1, 2, 3}));  // Re-inserting adds nothing.
  EXPECT_EQ(index.size(), 3);
}

TEST(PrefixIndexTest, EvictsDeepestBlocksOfTheOldestPromptFirst) {
  PrefixIndex index(6);
  index.Insert(Hashes({10, 11, 12, 13}));
  index.Insert(Hashes({20, 21, 22, 23}));
  EXPECT_EQ(index.size(), 6);
  // LRU order after both inserts (oldest first): 13 12 11 10 23 22 21 20;
  // the two oldest (13, 12) went, so the first prompt keeps its 2 roots.
  EXPECT_EQ(index.MatchPrefix(Hashes({10, 11, 12, 13})), 2);
  EXPECT_EQ(index.MatchPrefix(Hashes({20, 21, 22, 23})), 4);
  // Using a prompt again refreshes it.
  index.Insert(Hashes({10, 11}));
  index.Insert(Hashes({30, 31}));
  EXPECT_EQ(index.MatchPrefix(Hashes({10, 11})), 2);
  EXPECT_EQ(index.MatchPrefix(Hashes({20, 21, 22, 23})), 2);
}

TEST(PrefixIndexTest, NeverExceedsItsBound) {
  constexpr int64_t kMax = 64;
  PrefixIndex index(kMax);
  std::mt19937_64 rng(7);
  for (int prompt = 0; prompt < 500; ++prompt) {
    std::vector<BlockHash> blocks(1 + rng() % 100);
    for (BlockHash& h : blocks) h = rng();
    index.Insert(blocks);
    ASSERT_LE(index.size(), kMax);
    // The newest prompt is always found up to the bound.
    EXPECT_EQ(index.MatchPrefix(blocks),
              std::min<int64_t>(kMax, static_cast<int64_t>(blocks.size())));
  }
  EXPECT_EQ(index.size(), kMax);
}

}  // namespace
}  // namespace infernum::router
