#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace infernum {
namespace {

TEST(ThreadPoolTest, ParallelForCoversRangeExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 3, 17, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      for (int rep = 0; rep < 50; ++rep) {
        pool.ParallelFor(n, [&](int64_t b, int64_t e) {
          ASSERT_LT(b, e);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
      }
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 50) << i;
    }
  }
}

TEST(ThreadPoolTest, RunOnAllRunsEveryIndex) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(3);
  pool.RunOnAll([&](int t) { hits[t].fetch_add(1); });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPoolTest, RunOnAvailableRunsTheCallerAndEachWorkerAtMostOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 200; ++rep) {
      std::vector<std::atomic<int>> hits(threads);
      pool.RunOnAvailable([&](int t) {
        ASSERT_GE(t, 0);
        ASSERT_LT(t, threads);
        hits[t].fetch_add(1);
      });
      EXPECT_EQ(hits[0].load(), 1);
      for (int t = 1; t < threads; ++t) EXPECT_LE(hits[t].load(), 1) << t;
    }
  }
}

// Work shared out from an atomic counter is done exactly once whichever
// threads take part, and RunOnAll calls interleaved with RunOnAvailable ones
// (a worker that skipped one call must still run the next) keep their
// every-thread guarantee.
TEST(ThreadPoolTest, RunOnAvailableAndRunOnAllInterleave) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    constexpr int64_t kItems = 1000;
    for (int rep = 0; rep < 300; ++rep) {
      std::vector<std::atomic<int>> done(kItems);
      std::atomic<int64_t> next{0};
      pool.RunOnAvailable([&](int) {
        for (int64_t i = next.fetch_add(7); i < kItems; i = next.fetch_add(7)) {
          for (int64_t j = i; j < std::min(kItems, i + 7); ++j) {
            done[j].fetch_add(1);
          }
        }
      });
      for (int64_t i = 0; i < kItems; ++i) ASSERT_EQ(done[i].load(), 1) << i;
      std::vector<std::atomic<int>> hits(threads);
      pool.RunOnAll([&](int t) { hits[t].fetch_add(1); });
      for (int t = 0; t < threads; ++t) ASSERT_EQ(hits[t].load(), 1) << t;
    }
  }
}

}  // namespace
}  // namespace infernum
