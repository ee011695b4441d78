#include "router/server/circuit_breaker.h"

#include <gtest/gtest.h>

namespace infernum::router {
namespace {

class FakeClock {
 public:
  Clock AsClock() {
    return [this] { return now_; };
  }
  void Advance(absl::Duration d) { now_ += d; }
  absl::Time now() const { return now_; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1000);
};

CircuitBreaker::Options Backoff(int initial_s, int max_s) {
  return {.initial = absl::Seconds(initial_s), .max = absl::Seconds(max_s)};
}

TEST(CircuitBreakerTest, StartsClosed) {
  FakeClock clock;
  CircuitBreaker b(Backoff(1, 30), clock.AsClock());
  EXPECT_FALSE(b.ejected());
  EXPECT_FALSE(b.ProbeDue());
  EXPECT_EQ(b.num_ejections(), 0u);
  EXPECT_TRUE(b.RecordSuccess(b.num_failures()));
  EXPECT_FALSE(b.ejected());
}

TEST(CircuitBreakerTest, ProbeDelayDoublesUpToMaxUntilSuccess) {
  FakeClock clock;
  CircuitBreaker b(Backoff(1, 10), clock.AsClock());
  EXPECT_TRUE(b.RecordFailure());
  EXPECT_TRUE(b.ejected());
  EXPECT_EQ(b.num_ejections(), 1u);
  // Expected delays: 1, 2, 4, 8, then capped at 10.
  absl::Duration expected = absl::Seconds(1);
  for (int probe = 0; probe < 6; ++probe) {
    EXPECT_EQ(b.backoff(), expected) << probe;
    EXPECT_EQ(b.next_probe() - clock.now(), expected) << probe;
    clock.Advance(expected - absl::Milliseconds(1));
    EXPECT_FALSE(b.ProbeDue());
    clock.Advance(absl::Milliseconds(1));
    EXPECT_TRUE(b.ProbeDue());
    EXPECT_FALSE(b.RecordFailure());  // The probe failed.
    expected = std::min(expected * 2, absl::Seconds(10));
  }
  EXPECT_EQ(b.num_ejections(), 1u);  // Still the same ejection.
  clock.Advance(absl::Seconds(10));
  EXPECT_TRUE(b.RecordSuccess(b.num_failures()));
  EXPECT_FALSE(b.ejected());
  EXPECT_FALSE(b.ProbeDue());
}

TEST(CircuitBreakerTest, FailuresBeforeTheProbeIsDueDoNotExtendIt) {
  FakeClock clock;
  CircuitBreaker b(Backoff(2, 30), clock.AsClock());
  b.RecordFailure();
  const absl::Time due = b.next_probe();
  clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(b.RecordFailure());  // Another stream on the dead worker.
  EXPECT_EQ(b.next_probe(), due);
  EXPECT_EQ(b.backoff(), absl::Seconds(2));
}

TEST(CircuitBreakerTest, SuccessOlderThanAFailureIsIgnored) {
  FakeClock clock;
  CircuitBreaker b(Backoff(1, 30), clock.AsClock());
  const uint64_t at_start = b.num_failures();  // A poll starts...
  b.RecordFailure();                           // ...a request fails...
  EXPECT_FALSE(b.RecordSuccess(at_start));     // ...the poll's OK is stale.
  EXPECT_TRUE(b.ejected());
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(b.RecordSuccess(b.num_failures()));
  EXPECT_FALSE(b.ejected());
}

TEST(CircuitBreakerTest, FlappingWorkerKeepsBackingOff) {
  FakeClock clock;
  CircuitBreaker b(Backoff(1, 30), clock.AsClock());
  b.RecordFailure();
  for (int i = 0; i < 3; ++i) {
    clock.Advance(b.backoff());
    ASSERT_TRUE(b.RecordSuccess(b.num_failures()));  // Health check passes,
    clock.Advance(absl::Seconds(1));
    EXPECT_TRUE(b.RecordFailure());  // but real traffic fails right away.
  }
  EXPECT_EQ(b.backoff(), absl::Seconds(8));
  EXPECT_EQ(b.num_ejections(), 4u);
  // Healthy for longer than `max`: the next ejection starts over.
  clock.Advance(b.backoff());
  ASSERT_TRUE(b.RecordSuccess(b.num_failures()));
  clock.Advance(absl::Seconds(31));
  EXPECT_TRUE(b.RecordFailure());
  EXPECT_EQ(b.backoff(), absl::Seconds(1));
}

TEST(CircuitBreakerTest, InitialAboveMaxIsClamped) {
  FakeClock clock;
  CircuitBreaker b(Backoff(50, 5), clock.AsClock());
  b.RecordFailure();
  EXPECT_EQ(b.backoff(), absl::Seconds(5));
}

}  // namespace
}  // namespace infernum::router
