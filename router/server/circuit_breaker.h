// Per-worker circuit breaker: ejects a failing worker and schedules probes
// with exponential backoff until one succeeds.
//
// States: closed (worker usable) and open (ejected). A failure while closed
// opens the breaker and schedules the first probe after `initial`. A failure
// of a due probe (RecordFailure at or after next_probe()) doubles the delay
// up to `max`; failures reported before the probe is due (e.g. more streams
// on the same dead worker) change nothing. A success closes it. A worker
// that fails again within `max` of being re-admitted (flapping: healthy for
// the health check but failing real traffic) resumes at the doubled delay
// instead of starting over at `initial`.
//
// Thread-safe. Time comes from the injected clock (tests pass a fake).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace infernum::router {

using Clock = std::function<absl::Time()>;

// absl::Now as a Clock.
Clock RealClock();

class CircuitBreaker {
 public:
  struct Options {
    absl::Duration initial = absl::Seconds(1);
    absl::Duration max = absl::Seconds(30);
  };

  // `clock` must outlive the breaker's use; null = RealClock().
  explicit CircuitBreaker(Options options, Clock clock = nullptr);

  // Reports a failure (failed health check or probe, failed Generate).
  // Returns true when this call ejected the worker (closed -> open).
  bool RecordFailure();

  // Reports a successful health check / probe that started when
  // num_failures() was `failures_at_start`. Closes the breaker and returns
  // true, unless a failure was recorded since then (the success is older
  // than that failure): then nothing changes and it returns false.
  bool RecordSuccess(uint64_t failures_at_start);

  // Back to the initial state (closed, no backoff); counters are kept. For a
  // worker slot that is reused after discovery removed it.
  void Reset();

  bool ejected() const;
  // Open and next_probe() has passed: the poller should probe now.
  bool ProbeDue() const;
  // When the next probe is due (InfinitePast while closed).
  absl::Time next_probe() const;
  // Delay used for the current (or last) ejection.
  absl::Duration backoff() const;
  // Failures recorded so far (monotonic; see RecordSuccess).
  uint64_t num_failures() const;
  // Closed -> open transitions so far.
  uint64_t num_ejections() const;

 private:
  const Options options_;
  const Clock clock_;
  mutable std::mutex mu_;
  bool open_ = false;
  absl::Duration backoff_ = absl::ZeroDuration();  // Zero = never ejected.
  absl::Time next_probe_ = absl::InfinitePast();
  absl::Time closed_since_ = absl::InfinitePast();
  uint64_t num_failures_ = 0;
  uint64_t num_ejections_ = 0;
};

}  // namespace infernum::router
