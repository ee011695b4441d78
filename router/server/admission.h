// Admission control for generation requests: a router-wide and a per-model
// limit on requests in flight, plus a bounded FIFO queue in front of them.
//
//   Admission admission(options);
//   absl::StatusOr<Admission::Slot> slot = admission.Acquire(model, gone);
//   if (!slot.ok()) -> 429 (queue full / queue timeout), 499 (client gone)
//   ... serve the request; the slot is released when `*slot` is destroyed
//       (move it into whatever lives until the end of the response stream).
//
// A request runs when the router-wide count is below `max_concurrent` and
// its model's count below the model's limit (0 = unlimited). Otherwise it
// waits in the queue when fewer than `max_queued` requests are waiting, for
// at most `queue_timeout`. Waiters are admitted in arrival order among
// those whose model has room, so a saturated model does not hold back
// requests for another model. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace infernum::router {

class Admission {
 public:
  struct Options {
    int64_t max_concurrent = 0;  // Router-wide in-flight limit; 0 = none.
    int64_t max_queued = 0;      // Waiting requests beyond the limits.
    absl::Duration queue_timeout = absl::Seconds(30);
    std::map<std::string, int64_t> model_limits;  // model -> limit (0 = none)
    // How often a queued request polls its cancellation check.
    absl::Duration poll_interval = absl::Milliseconds(50);
  };

  // Why Acquire() refused a request (for metrics).
  enum class Refusal { kNone, kQueueFull, kQueueTimeout, kCancelled };

  // An admitted request. Releasing it (destruction, or move-assigning over
  // it) frees the place for the next waiter. Movable; the Admission must
  // outlive every Slot.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { Release(); }
    void Release();
    bool held() const { return owner_ != nullptr; }

   private:
    friend class Admission;
    Slot(Admission* owner, std::string model)
        : owner_(owner), model_(std::move(model)) {}
    Admission* owner_ = nullptr;
    std::string model_;
  };

  explicit Admission(Options options);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // True when some limit is configured (otherwise Acquire never waits).
  bool limited() const;

  // Admits a request for `model`, waiting in the queue when needed.
  // `cancelled` (may be empty) is polled while queued, outside any lock;
  // true ends the wait. Errors (router/api/errors.h API errors):
  // kRateLimited (429) when the queue is full or the wait timed out,
  // kCancelled (499) when `cancelled` fired. `*refusal` (optional) says
  // which case happened.
  absl::StatusOr<Slot> Acquire(std::string_view model,
                               const std::function<bool()>& cancelled,
                               Refusal* refusal = nullptr);

  int64_t num_active() const;
  int64_t num_queued() const;
  // Seconds a refused client should wait before retrying (Retry-After).
  int retry_after_seconds() const;

 private:
  struct Waiter {
    std::string model;
    bool granted = false;
  };

  bool HasRoom(const std::string& model) const;  // Requires mu_.
  void Take(const std::string& model);           // Requires mu_.
  void GrantWaiters();                           // Requires mu_.
  void Release(const std::string& model);
  absl::Status WaitForGrant(std::unique_lock<std::mutex>& lock, Waiter& waiter,
                            const std::function<bool()>& cancelled,
                            Refusal* refusal);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t active_ = 0;
  std::map<std::string, int64_t, std::less<>> active_by_model_;
  std::list<Waiter*> queue_;  // Arrival order; each points into a waiter's
                              // stack frame in Acquire().
};

}  // namespace infernum::router
