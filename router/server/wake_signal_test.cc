#include "router/server/wake_signal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"

namespace infernum::router {
namespace {

TEST(WakeSignalTest, ANotifyBeforeTheWaitIsNotLost) {
  WakeSignal s;
  s.Notify();
  s.Notify();                      // Notifies do not accumulate...
  s.Wait(absl::InfiniteFuture());  // ...but the first one is kept.
  const absl::Time start = absl::Now();
  s.Wait(start + absl::Milliseconds(20));  // Nothing pending: times out.
  EXPECT_GE(absl::Now(), start + absl::Milliseconds(20));
}

TEST(WakeSignalTest, WakesASleepingWaiter) {
  WakeSignal s;
  std::atomic<int> produced{0};
  constexpr int kItems = 2000;
  // The consumer sees every item: a lost wake-up would hang it (bounded
  // here by the deadline, then the count is short).
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      produced.fetch_add(1);
      s.Notify();
      if (i % 64 == 0) std::this_thread::yield();
    }
  });
  int seen = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (seen < kItems && absl::Now() < deadline) {
    if (produced.load() > seen) {
      seen = produced.load();
      continue;
    }
    s.Wait(deadline);
  }
  producer.join();
  EXPECT_EQ(seen, kItems);
}

}  // namespace
}  // namespace infernum::router
