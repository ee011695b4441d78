#include "router/server/admission.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "router/api/errors.h"

namespace infernum::router {

Admission::Slot::Slot(Slot&& other) noexcept
    : owner_(other.owner_), model_(std::move(other.model_)) {
  other.owner_ = nullptr;
}

Admission::Slot& Admission::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    model_ = std::move(other.model_);
    other.owner_ = nullptr;
  }
  return *this;
}

void Admission::Slot::Release() {
  if (owner_ == nullptr) return;
  Admission* owner = owner_;
  owner_ = nullptr;
  owner->Release(model_);
}

Admission::Admission(Options options) : options_(std::move(options)) {}

bool Admission::limited() const {
  if (options_.max_concurrent > 0) return true;
  return std::any_of(options_.model_limits.begin(), options_.model_limits.end(),
                     [](const auto& entry) { return entry.second > 0; });
}

bool Admission::HasRoom(const std::string& model) const {
  if (options_.max_concurrent > 0 && active_ >= options_.max_concurrent) {
    return false;
  }
  const auto limit = options_.model_limits.find(model);
  if (limit == options_.model_limits.end() || limit->second <= 0) return true;
  const auto active = active_by_model_.find(model);
  return active == active_by_model_.end() || active->second < limit->second;
}

void Admission::Take(const std::string& model) {
  ++active_;
  ++active_by_model_[model];
}

void Admission::GrantWaiters() {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (options_.max_concurrent > 0 && active_ >= options_.max_concurrent) {
      return;  // Nobody else can run.
    }
    Waiter* waiter = *it;
    if (HasRoom(waiter->model)) {
      Take(waiter->model);
      waiter->granted = true;
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
}

void Admission::Release(const std::string& model) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --active_;
    auto it = active_by_model_.find(model);
    if (it != active_by_model_.end() && --it->second <= 0) {
      active_by_model_.erase(it);
    }
    GrantWaiters();
  }
  cv_.notify_all();
}

absl::StatusOr<Admission::Slot> Admission::Acquire(
    std::string_view model, const std::function<bool()>& cancelled,
    Refusal* refusal) {
  Refusal ignored;
  if (refusal == nullptr) refusal = &ignored;
  *refusal = Refusal::kNone;
  Waiter waiter{.model = std::string(model)};
  std::unique_lock<std::mutex> lock(mu_);
  if (HasRoom(waiter.model)) {
    Take(waiter.model);
    return Slot(this, std::move(waiter.model));
  }
  if (static_cast<int64_t>(queue_.size()) >= options_.max_queued) {
    *refusal = Refusal::kQueueFull;
    return MakeApiError(
        ErrorKind::kRateLimited,
        options_.max_queued > 0
            ? "too many requests: the router's request queue is full"
            : "too many requests: the router's concurrency limit is reached");
  }
  queue_.push_back(&waiter);
  absl::Status st = WaitForGrant(lock, waiter, cancelled, refusal);
  if (!st.ok()) return st;
  return Slot(this, std::move(waiter.model));
}

// Waits until GrantWaiters() admits `waiter` (it is then off the queue and
// counted as active), or removes it from the queue and returns the error.
absl::Status Admission::WaitForGrant(std::unique_lock<std::mutex>& lock,
                                     Waiter& waiter,
                                     const std::function<bool()>& cancelled,
                                     Refusal* refusal) {
  const absl::Time deadline = absl::Now() + options_.queue_timeout;
  auto leave = [&] { queue_.remove(&waiter); };
  while (!waiter.granted) {
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      leave();
      *refusal = Refusal::kQueueTimeout;
      return MakeApiError(
          ErrorKind::kRateLimited,
          absl::StrCat("too many requests: no capacity within the queue "
                       "timeout of ",
                       absl::FormatDuration(options_.queue_timeout)));
    }
    if (cancelled) {
      lock.unlock();
      const bool gone = cancelled();
      lock.lock();
      if (waiter.granted) break;  // Admitted meanwhile: keep the slot.
      if (gone) {
        leave();
        *refusal = Refusal::kCancelled;
        return MakeApiError(ErrorKind::kCancelled,
                            "the client disconnected while queued");
      }
    }
    const absl::Time wake = std::min(deadline, now + options_.poll_interval);
    cv_.wait_until(lock, absl::ToChronoTime(wake));
  }
  return absl::OkStatus();
}

int64_t Admission::num_active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

int64_t Admission::num_queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(queue_.size());
}

int Admission::retry_after_seconds() const {
  // A queued request is admitted or refused within queue_timeout; retrying
  // sooner than a second is pointless, later than the timeout unneeded.
  const double s = absl::ToDoubleSeconds(options_.queue_timeout);
  return static_cast<int>(std::clamp(std::ceil(s / 4), 1.0, 60.0));
}

}  // namespace infernum::router
