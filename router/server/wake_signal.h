// A wake-up signal for one waiting thread, on a Linux futex.
//
// GenerationSession's owner thread sleeps between tokens while gRPC's
// thread queues them. With std::condition_variable every token costs three
// futex syscalls (the wait, the notify, and the mutex unlock after the
// wait, which glibc always treats as contended); here it costs two (the
// wait and the wake), and a Notify while the waiter is awake costs none.
//
// Use: the waiter checks its condition (e.g. a queue, under its own lock),
// then calls Wait; producers change the condition first, then Notify. A
// Notify that comes before the Wait makes that Wait return at once, so no
// wake-up is lost (the caller re-checks its condition after every Wait).
// Notify is thread-safe; Wait must be called by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace infernum::router {

class WakeSignal {
 public:
  // Blocks until Notify (also one that came since the last Wait returned)
  // or until `deadline` (InfiniteFuture: no limit).
  void Wait(absl::Time deadline);

  // Wakes the waiter, or makes its next Wait return at once.
  void Notify();

 private:
  enum : uint32_t { kIdle = 0, kSleeping = 1, kNotified = 2 };
  std::atomic<uint32_t> state_{kIdle};
};

}  // namespace infernum::router
