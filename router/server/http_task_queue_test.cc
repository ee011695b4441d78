#include "router/server/http_task_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "absl/time/clock.h"

namespace infernum::router {
namespace {

// Blocks callers until Open(); Wait() is bounded so a deadlock fails the
// test instead of hanging it.
class Gate {
 public:
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

template <typename Cond>
bool Eventually(Cond cond) {
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (!cond()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(ElasticTaskQueueTest, RunsEveryJob) {
  std::atomic<int> done{0};
  {
    ElasticTaskQueue queue({.min_threads = 2, .max_threads = 4});
    for (int i = 0; i < 500; ++i) queue.enqueue([&] { ++done; });
    queue.shutdown();
    EXPECT_EQ(done.load(), 500);
    EXPECT_EQ(queue.num_threads(), 0);
    queue.enqueue([&] { ++done; });  // After shutdown: runs inline.
    EXPECT_EQ(done.load(), 501);
  }
}

// Jobs that only finish once all of them run at the same time (like
// connections streaming concurrently) complete: the pool grows past
// min_threads instead of leaving them queued.
TEST(ElasticTaskQueueTest, GrowsForConcurrentLongJobs) {
  constexpr int kJobs = 64;
  ElasticTaskQueue queue({.min_threads = 1, .max_threads = 256});
  std::atomic<int> started{0}, finished{0};
  Gate all_started;
  for (int i = 0; i < kJobs; ++i) {
    queue.enqueue([&] {
      if (++started == kJobs) all_started.Open();
      if (all_started.Wait()) ++finished;
    });
  }
  ASSERT_TRUE(Eventually([&] { return finished.load() == kJobs; }));
  EXPECT_GE(queue.num_threads(), kJobs);
  queue.shutdown();
}

TEST(ElasticTaskQueueTest, CapsThreadsAndQueuesTheRest) {
  ElasticTaskQueue queue({.min_threads = 0, .max_threads = 4});
  Gate release;
  std::atomic<int> running{0}, peak{0}, done{0};
  for (int i = 0; i < 12; ++i) {
    queue.enqueue([&] {
      const int now = ++running;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      release.Wait();
      --running;
      ++done;
    });
  }
  ASSERT_TRUE(Eventually([&] { return running.load() == 4; }));
  EXPECT_EQ(queue.num_threads(), 4);
  EXPECT_EQ(queue.num_queued(), 8u);
  release.Open();
  ASSERT_TRUE(Eventually([&] { return done.load() == 12; }));
  EXPECT_EQ(peak.load(), 4);
  queue.shutdown();
}

TEST(ElasticTaskQueueTest, IdleThreadsBeyondMinimumExit) {
  ElasticTaskQueue queue({.min_threads = 2,
                          .max_threads = 32,
                          .idle_timeout = absl::Milliseconds(20)});
  EXPECT_EQ(queue.num_threads(), 2);
  Gate release;
  std::atomic<int> started{0};
  for (int i = 0; i < 16; ++i) {
    queue.enqueue([&] {
      ++started;
      release.Wait();
    });
  }
  ASSERT_TRUE(Eventually([&] { return started.load() == 16; }));
  EXPECT_GE(queue.num_threads(), 16);
  release.Open();
  EXPECT_TRUE(Eventually([&] { return queue.num_threads() == 2; }));
  // Still serves after shrinking.
  std::atomic<bool> ran{false};
  queue.enqueue([&] { ran = true; });
  EXPECT_TRUE(Eventually([&] { return ran.load(); }));
}

}  // namespace
}  // namespace infernum::router
