#include "router/server/admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "router/api/errors.h"

namespace infernum::router {
namespace {

using Refusal = Admission::Refusal;

// Waits (bounded, to turn a deadlock into a failure) until `cond` holds.
template <typename Cond>
bool Eventually(Cond cond) {
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (!cond()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

ErrorKind KindOf(const absl::Status& st) { return ApiErrorFromStatus(st).kind; }

TEST(AdmissionTest, UnlimitedNeverWaits) {
  Admission admission({});
  EXPECT_FALSE(admission.limited());
  std::vector<Admission::Slot> slots;
  for (int i = 0; i < 1000; ++i) {
    auto slot = admission.Acquire("m", nullptr);
    ASSERT_TRUE(slot.ok());
    slots.push_back(std::move(*slot));
  }
  EXPECT_EQ(admission.num_active(), 1000);
  slots.clear();
  EXPECT_EQ(admission.num_active(), 0);
}

TEST(AdmissionTest, GlobalLimitWithoutQueueRefusesAtOnce) {
  Admission admission({.max_concurrent = 2});
  EXPECT_TRUE(admission.limited());
  auto a = admission.Acquire("m", nullptr);
  auto b = admission.Acquire("other", nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  Refusal refusal = Refusal::kNone;
  auto c = admission.Acquire("m", nullptr, &refusal);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(KindOf(c.status()), ErrorKind::kRateLimited);
  EXPECT_EQ(refusal, Refusal::kQueueFull);
  a->Release();
  EXPECT_FALSE(a->held());
  auto d = admission.Acquire("m", nullptr, &refusal);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(refusal, Refusal::kNone);
  EXPECT_EQ(admission.num_active(), 2);
}

TEST(AdmissionTest, PerModelLimitLeavesOtherModelsAlone) {
  Admission admission({.model_limits = {{"a", 1}, {"b", 0}}});
  auto a1 = admission.Acquire("a", nullptr);
  ASSERT_TRUE(a1.ok());
  EXPECT_FALSE(admission.Acquire("a", nullptr).ok());
  std::vector<Admission::Slot> others;
  for (int i = 0; i < 10; ++i) {
    auto b = admission.Acquire("b", nullptr);  // 0 = unlimited.
    auto c = admission.Acquire("c", nullptr);  // Not listed = unlimited.
    ASSERT_TRUE(b.ok() && c.ok());
    others.push_back(std::move(*b));
    others.push_back(std::move(*c));
  }
  *a1 = Admission::Slot();  // Move-assign releases.
  EXPECT_TRUE(admission.Acquire("a", nullptr).ok());
}

TEST(AdmissionTest, MovedSlotReleasesOnce) {
  Admission admission({.max_concurrent = 1});
  auto a = admission.Acquire("m", nullptr);
  ASSERT_TRUE(a.ok());
  Admission::Slot moved = std::move(*a);
  EXPECT_FALSE(a->held());
  EXPECT_TRUE(moved.held());
  a->Release();  // No-op on a moved-from slot.
  EXPECT_EQ(admission.num_active(), 1);
  moved.Release();
  moved.Release();
  EXPECT_EQ(admission.num_active(), 0);
}

TEST(AdmissionTest, QueuedRequestsRunInArrivalOrder) {
  Admission admission(
      {.max_concurrent = 1, .max_queued = 8, .queue_timeout = absl::Hours(1)});
  auto holder = admission.Acquire("m", nullptr);
  ASSERT_TRUE(holder.ok());
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  constexpr int kWaiters = 5;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      auto slot = admission.Acquire("m", nullptr);
      ASSERT_TRUE(slot.ok()) << slot.status();
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    });  // The slot is released when the thread's lambda returns.
    // Thread i is queued before thread i+1 starts.
    ASSERT_TRUE(Eventually([&] { return admission.num_queued() == i + 1; }));
  }
  holder->Release();
  for (auto& t : threads) t.join();
  std::vector<int> expected;
  for (int i = 0; i < kWaiters; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
  EXPECT_EQ(admission.num_active(), 0);
  EXPECT_EQ(admission.num_queued(), 0);
}

TEST(AdmissionTest, FullQueueRefuses) {
  Admission admission(
      {.max_concurrent = 1, .max_queued = 2, .queue_timeout = absl::Hours(1)});
  auto holder = admission.Acquire("m", nullptr);
  ASSERT_TRUE(holder.ok());
  std::atomic<bool> stop{false};
  auto cancelled = [&] { return stop.load(); };
  std::vector<std::thread> waiters;
  std::atomic<int> num_cancelled{0};
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&] {
      auto slot = admission.Acquire("m", cancelled);
      if (!slot.ok() && KindOf(slot.status()) == ErrorKind::kCancelled) {
        ++num_cancelled;
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return admission.num_queued() == 2; }));
  Refusal refusal = Refusal::kNone;
  auto third = admission.Acquire("m", nullptr, &refusal);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(KindOf(third.status()), ErrorKind::kRateLimited);
  EXPECT_EQ(refusal, Refusal::kQueueFull);
  EXPECT_GE(admission.retry_after_seconds(), 1);
  // Cancelling the waiters empties the queue without admitting them.
  stop = true;
  for (auto& t : waiters) t.join();
  EXPECT_EQ(num_cancelled.load(), 2);
  EXPECT_EQ(admission.num_queued(), 0);
  EXPECT_EQ(admission.num_active(), 1);
}

TEST(AdmissionTest, QueueTimeoutRefuses) {
  Admission admission({.max_concurrent = 1,
                       .max_queued = 4,
                       .queue_timeout = absl::Milliseconds(5)});
  auto holder = admission.Acquire("m", nullptr);
  ASSERT_TRUE(holder.ok());
  Refusal refusal = Refusal::kNone;
  auto waited = admission.Acquire("m", nullptr, &refusal);
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(KindOf(waited.status()), ErrorKind::kRateLimited);
  EXPECT_EQ(refusal, Refusal::kQueueTimeout);
  EXPECT_EQ(admission.num_queued(), 0);
  EXPECT_EQ(admission.num_active(), 1);
}

TEST(AdmissionTest, SaturatedModelDoesNotBlockOthers) {
  Admission admission({.max_concurrent = 2,
                       .max_queued = 4,
                       .queue_timeout = absl::Hours(1),
                       .model_limits = {{"a", 1}}});
  auto a1 = admission.Acquire("a", nullptr);
  ASSERT_TRUE(a1.ok());
  std::optional<Admission::Slot> a2;
  std::thread waiter([&] {
    auto slot = admission.Acquire("a", nullptr);
    ASSERT_TRUE(slot.ok());
    a2 = std::move(*slot);
  });
  ASSERT_TRUE(Eventually([&] { return admission.num_queued() == 1; }));
  // "b" goes past the queued "a" request: the global limit has room.
  auto b = admission.Acquire("b", nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(admission.num_queued(), 1);
  // Releasing b (global room, "a" still full) admits nothing; releasing
  // a1 admits the queued "a".
  b->Release();
  EXPECT_EQ(admission.num_queued(), 1);
  a1->Release();
  waiter.join();
  ASSERT_TRUE(a2.has_value());
  EXPECT_TRUE(a2->held());
  EXPECT_EQ(admission.num_active(), 1);
}

TEST(AdmissionTest, ReleaseAdmitsWaiterOfAnotherModel) {
  Admission admission(
      {.max_concurrent = 1, .max_queued = 1, .queue_timeout = absl::Hours(1)});
  auto a = admission.Acquire("a", nullptr);
  ASSERT_TRUE(a.ok());
  std::atomic<bool> admitted{false};
  std::thread waiter([&] {
    auto slot = admission.Acquire("b", nullptr);
    admitted = slot.ok();
  });
  ASSERT_TRUE(Eventually([&] { return admission.num_queued() == 1; }));
  EXPECT_FALSE(admitted.load());
  a->Release();
  waiter.join();
  EXPECT_TRUE(admitted.load());
}

TEST(AdmissionTest, ManyThreadsNeverExceedTheLimit) {
  constexpr int kLimit = 3;
  Admission admission({.max_concurrent = kLimit,
                       .max_queued = 64,
                       .queue_timeout = absl::Hours(1)});
  std::atomic<int> running{0}, peak{0}, served{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&] {
      for (int r = 0; r < 20; ++r) {
        auto slot = admission.Acquire("m", nullptr);
        ASSERT_TRUE(slot.ok());
        const int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::yield();
        --running;
        ++served;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(served.load(), 32 * 20);
  EXPECT_LE(peak.load(), kLimit);
  EXPECT_EQ(admission.num_active(), 0);
}

}  // namespace
}  // namespace infernum::router
