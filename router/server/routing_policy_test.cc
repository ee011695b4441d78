#include "router/server/routing_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <set>
#include <span>
#include <vector>

#include "router/server/prefix_index.h"
#include "worker/engine/block_hash.h"

namespace infernum::router {
namespace {

constexpr int kBlock = 4;

// Candidates 0..n-1 with the given in-flight counts and block size kBlock.
std::vector<WorkerCandidate> Idle(int n) {
  std::vector<WorkerCandidate> c(n);
  for (int i = 0; i < n; ++i) c[i] = {.worker = i, .block_size = kBlock};
  return c;
}

// `num_blocks` full blocks of tokens starting at `first`, then `tail` more.
std::vector<int32_t> Prompt(int32_t first, int num_blocks, int tail = 0) {
  std::vector<int32_t> p(num_blocks * kBlock + tail);
  std::iota(p.begin(), p.end(), first);
  return p;
}

std::vector<int32_t> Concat(std::vector<int32_t> a,
                            const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int Picked(RoutingPolicy& policy, const std::vector<int32_t>& prompt,
           const std::vector<WorkerCandidate>& candidates) {
  return candidates[policy.Pick({"m", prompt}, candidates)].worker;
}

TEST(LoadScoreTest, CombinesInFlightQueueAndKvUsage) {
  WorkerCandidate c{.worker = 0,
                    .num_in_flight = 3,
                    .num_running = 50,
                    .num_waiting = 2,
                    .kv_cache_usage = 0.5};
  EXPECT_DOUBLE_EQ(LoadScore(c), 3 + 2 + kKvUsageLoadWeight * 0.5);
}

TEST(LeastLoadPolicyTest, AvoidsTheBusyWorker) {
  LeastLoadPolicy policy;
  std::vector<WorkerCandidate> c = Idle(3);
  c[0].num_in_flight = 5;
  c[2].num_in_flight = 3;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Picked(policy, {1}, c), 1);
  // A queue on the worker counts too, and a full KV cache.
  c = Idle(2);
  c[0].num_in_flight = 1;
  c[1].num_waiting = 3;
  EXPECT_EQ(Picked(policy, {1}, c), 0);
  c = Idle(2);
  c[0].kv_cache_usage = 0.9;
  EXPECT_EQ(Picked(policy, {1}, c), 1);
}

TEST(LeastLoadPolicyTest, SpreadsAnIdlePool) {
  LeastLoadPolicy policy;
  const std::vector<WorkerCandidate> c = Idle(3);
  std::map<int, int> count;
  for (int i = 0; i < 9; ++i) ++count[Picked(policy, {1}, c)];
  EXPECT_EQ(count, (std::map<int, int>{{0, 3}, {1, 3}, {2, 3}}));
}

TEST(PrefixAwarePolicyTest, RepeatedPrefixSticksToOneWorkerUnderEvenLoad) {
  PrefixAwarePolicy policy(PrefixAwareConfig{});
  const std::vector<WorkerCandidate> c = Idle(3);
  const std::vector<int32_t> system = Prompt(1000, 8);
  const int home = Picked(policy, Concat(system, Prompt(1, 1)), c);
  for (int i = 0; i < 20; ++i) {
    // Same 8-block prefix, a different question each time.
    EXPECT_EQ(Picked(policy, Concat(system, Prompt(5000 + 10 * i, 2)), c), home)
        << i;
  }
  // Unrelated prompts are spread over all workers.
  std::set<int> cold;
  for (int i = 0; i < 3; ++i)
    cold.insert(Picked(policy, Prompt(100 * i, 3), c));
  EXPECT_EQ(cold.size(), 3u);
}

TEST(PrefixAwarePolicyTest, LongestCachedPrefixWins) {
  PrefixAwarePolicy policy(PrefixAwareConfig{});
  const std::vector<int32_t> p = Prompt(7, 6);
  // Worker 0 saw the first 2 blocks of p, worker 1 the first 5.
  Picked(policy, std::vector<int32_t>(p.begin(), p.begin() + 2 * kBlock),
         {Idle(1)[0]});
  std::vector<WorkerCandidate> only1 = Idle(2);
  only1.erase(only1.begin());
  Picked(policy, std::vector<int32_t>(p.begin(), p.begin() + 5 * kBlock),
         only1);
  EXPECT_EQ(policy.MatchedBlocks(0, p, kBlock), 2);
  EXPECT_EQ(policy.MatchedBlocks(1, p, kBlock), 5);
  EXPECT_EQ(Picked(policy, p, Idle(3)), 1);
}

TEST(PrefixAwarePolicyTest, ImbalanceBeyondBothThresholdsGoesToLeastLoaded) {
  PrefixAwarePolicy policy(PrefixAwareConfig{.balance_abs_threshold = 8,
                                             .balance_rel_threshold = 1.5});
  const std::vector<int32_t> system = Prompt(1000, 8);
  std::vector<WorkerCandidate> c = Idle(2);
  const int home = Picked(policy, system, c);
  const int other = 1 - home;
  // Mild imbalance: the prefix still wins.
  c[home].num_in_flight = 8;  // 8 - 0 is not > 8.
  EXPECT_EQ(Picked(policy, Concat(system, Prompt(1, 1)), c), home);
  c[home].num_in_flight = 100;  // 100 - 90 > 8, but 100 < 1.5 * 90.
  c[other].num_in_flight = 90;
  EXPECT_EQ(Picked(policy, Concat(system, Prompt(2, 1)), c), home);
  // Saturated: both thresholds passed, so the least loaded worker gets it.
  c[home].num_in_flight = 20;
  c[other].num_in_flight = 0;
  EXPECT_EQ(Picked(policy, Concat(system, Prompt(3, 1)), c), other);
  // ...which now holds the prefix too.
  EXPECT_EQ(policy.MatchedBlocks(other, system, kBlock), 8);
}

TEST(PrefixAwarePolicyTest, RecordsTheWorkersBlockHashes) {
  PrefixAwarePolicy policy(PrefixAwareConfig{});
  const std::vector<int32_t> p = Prompt(3, 2, /*tail=*/3);  // 2 full blocks.
  const int w = Picked(policy, p, Idle(1));
  EXPECT_EQ(policy.IndexSize(w), 2);
  // The index holds exactly the worker-side hashes of the full blocks.
  const std::vector<BlockHash> expected =
      worker::HashFullBlocks(std::span<const int32_t>(p), kBlock);
  PrefixIndex reference(100);
  reference.Insert(expected);
  EXPECT_EQ(policy.MatchedBlocks(w, p, kBlock),
            reference.MatchPrefix(expected));
  std::vector<int32_t> changed = p;
  changed[0] += 1;  // First block differs: the chained hashes all differ.
  EXPECT_EQ(policy.MatchedBlocks(w, changed, kBlock), 0);
  // Another block size means other hashes.
  EXPECT_EQ(policy.MatchedBlocks(w, p, kBlock * 2), 0);
  policy.ForgetWorker(w);
  EXPECT_EQ(policy.IndexSize(w), 0);
}

TEST(PrefixAwarePolicyTest, IndexMemoryIsBounded) {
  PrefixAwarePolicy policy(PrefixAwareConfig{.max_blocks_per_worker = 16});
  const std::vector<WorkerCandidate> c = Idle(2);
  for (int i = 0; i < 200; ++i) {
    Picked(policy, Prompt(i * 1000, 1 + i % 40), c);
    ASSERT_LE(policy.IndexSize(0), 16);
    ASSERT_LE(policy.IndexSize(1), 16);
  }
  EXPECT_EQ(policy.IndexSize(0), 16);
}

TEST(PrefixAwarePolicyTest, UnknownBlockSizeStillPicks) {
  PrefixAwarePolicy policy(PrefixAwareConfig{});
  std::vector<WorkerCandidate> c = Idle(2);
  for (WorkerCandidate& w : c) w.block_size = 0;
  c[0].num_in_flight = 1;
  EXPECT_EQ(Picked(policy, Prompt(1, 4), c), 1);
  EXPECT_EQ(policy.IndexSize(1), 0);
}

TEST(RoutingPolicyTest, FactoryKnowsTheConfigNames) {
  for (std::string_view name :
       {kPolicyRoundRobin, kPolicyLeastLoad, kPolicyPrefixAware}) {
    auto policy = MakeRoutingPolicy(name);
    ASSERT_TRUE(policy.ok()) << name;
    EXPECT_EQ((*policy)->name(), name);
    // Every policy returns a valid index.
    const std::vector<WorkerCandidate> c = Idle(3);
    for (int i = 0; i < 5; ++i) {
      EXPECT_LT((*policy)->Pick({"m", Prompt(i, 2)}, c), c.size());
    }
  }
  EXPECT_FALSE(MakeRoutingPolicy("random").ok());
}

}  // namespace
}  // namespace infernum::router
