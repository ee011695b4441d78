#include "router/server/wake_signal.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "absl/time/clock.h"

namespace infernum::router {
namespace {

// FUTEX_WAIT while *word == expected, at most `timeout` (null: no limit).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
               const timespec* timeout) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE,
          expected, timeout, nullptr, 0);
}

void FutexWakeOne(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1,
          nullptr, nullptr, 0);
}

}  // namespace

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

void WakeSignal::Wait(absl::Time deadline) {
  uint32_t expected = kIdle;
  if (state_.compare_exchange_strong(expected, kSleeping)) {
    while (state_.load() == kSleeping) {
      if (deadline == absl::InfiniteFuture()) {
        FutexWait(&state_, kSleeping, nullptr);
        continue;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      const timespec ts = absl::ToTimespec(left);
      FutexWait(&state_, kSleeping, &ts);  // Returns early on a wake.
    }
  }
  // Notified (consumed here) or timed out (no longer sleeping).
  state_.store(kIdle);
}

void WakeSignal::Notify() {
  if (state_.exchange(kNotified) == kSleeping) FutexWakeOne(&state_);
}

}  // namespace infernum::router
