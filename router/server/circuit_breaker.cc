#include "router/server/circuit_breaker.h"

#include <algorithm>
#include <utility>

namespace infernum::router {

Clock RealClock() {
  return [] { return absl::Now(); };
}

CircuitBreaker::CircuitBreaker(Options options, Clock clock)
    : options_(options), clock_(clock ? std::move(clock) : RealClock()) {}

bool CircuitBreaker::RecordFailure() {
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  ++num_failures_;
  if (open_) {
    if (now >= next_probe_) {  // The due probe failed: back off further.
      backoff_ = std::min(backoff_ * 2, options_.max);
      next_probe_ = now + backoff_;
    }
    return false;
  }
  const bool flapping =
      backoff_ > absl::ZeroDuration() && now - closed_since_ < options_.max;
  backoff_ = flapping ? std::min(backoff_ * 2, options_.max)
                      : std::min(options_.initial, options_.max);
  open_ = true;
  next_probe_ = now + backoff_;
  ++num_ejections_;
  return true;
}

bool CircuitBreaker::RecordSuccess(uint64_t failures_at_start) {
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  if (num_failures_ != failures_at_start) return false;
  if (open_) {
    open_ = false;
    closed_since_ = now;
    next_probe_ = absl::InfinitePast();
  }
  return true;
}

void CircuitBreaker::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  open_ = false;
  backoff_ = absl::ZeroDuration();
  next_probe_ = absl::InfinitePast();
  closed_since_ = absl::InfinitePast();
}

bool CircuitBreaker::ejected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

bool CircuitBreaker::ProbeDue() const {
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  return open_ && now >= next_probe_;
}

absl::Time CircuitBreaker::next_probe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_probe_;
}

absl::Duration CircuitBreaker::backoff() const {
  std::lock_guard<std::mutex> lock(mu_);
  return backoff_;
}

uint64_t CircuitBreaker::num_failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_failures_;
}

uint64_t CircuitBreaker::num_ejections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_ejections_;
}

}  // namespace infernum::router
