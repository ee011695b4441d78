// WorkerPool: health / model / load polling, ejection and DNS discovery.
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "router/server/worker_pool.h"

namespace infernum::router {

void WorkerPool::StartPollerLocked(int worker) {
  Slot& s = *slots_[worker];
  if (!started_ || stopping_ || s.poller_running) return;
  if (s.poller.joinable()) s.poller.join();  // Exited (retired earlier).
  s.poller_running = true;
  s.poller = std::thread([this, worker] { PollLoop(worker); });
}

void WorkerPool::OnPollFailure(int worker, const absl::Status& status) {
  Slot& s = slot(worker);
  registry_.SetWorker(worker, false, nullptr);
  if (s.breaker.RecordFailure()) {
    LOG(WARNING) << status.message() << "; ejected, probing again in "
                 << s.breaker.backoff();
    ForgetInPolicies(worker);
  }
}

absl::StatusOr<std::shared_ptr<const ModelAssets>> WorkerPool::CurrentModel(
    int worker) {
  Slot& s = slot(worker);
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool stale = absl::Now() - s.info_time > options_.model_info_refresh;
    // After an ejection the worker may have restarted with another model.
    if (s.assets != nullptr && !stale && !s.breaker.ejected()) {
      return s.assets;
    }
  }
  absl::StatusOr<v1::ModelInfo> info =
      s.client->GetModelInfo(options_.model_info_timeout);
  if (!info.ok()) return info.status();
  absl::StatusOr<std::shared_ptr<const ModelAssets>> built = assets_.Get(*info);
  if (!built.ok()) {
    return absl::Status(
        built.status().code(),
        absl::StrCat("worker ", s.client->address(),
                     " serves an unusable model: ", built.status().message()));
  }
  bool changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changed = s.assets == nullptr || s.assets->model_id != (*built)->model_id;
    s.assets = *built;
    s.info_time = absl::Now();
  }
  if (changed) {
    LOG(INFO) << "worker " << s.client->address() << " serves model '"
              << (*built)->model_id << "' (context "
              << (*built)->max_context_length << ", block size "
              << (*built)->block_size << ")";
  }
  return built;
}

void WorkerPool::Poll(int worker) {
  Slot& s = slot(worker);
  const uint64_t failures_at_start = s.breaker.num_failures();
  const absl::Status health = s.client->CheckHealth(options_.health_timeout);
  if (!health.ok()) return OnPollFailure(worker, health);
  absl::StatusOr<std::shared_ptr<const ModelAssets>> assets =
      CurrentModel(worker);
  if (!assets.ok()) return OnPollFailure(worker, assets.status());
  absl::StatusOr<v1::LoadReport> load =
      s.client->GetLoad(options_.load_timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (load.ok()) {
      s.load = *load;
    } else {
      s.load.reset();  // Old worker (Unimplemented) or slow: no load data.
    }
  }
  const bool was_ejected = s.breaker.ejected();
  // A request saw this worker fail while the poll ran: the poll's view is
  // older than that, so it stays ejected until the next probe.
  if (!s.breaker.RecordSuccess(failures_at_start)) return;
  if (was_ejected) {
    LOG(INFO) << "worker " << s.client->address() << " is healthy again";
  }
  const std::string& model_id = (*assets)->model_id;
  if (!s.pool.empty() && model_id != s.pool) {
    // Reachable (the breaker is closed) but never routed to.
    WarnModelMismatch(worker, model_id);
    registry_.SetWorker(worker, false, nullptr);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.mismatch_warned.clear();
  }
  registry_.SetWorker(worker, true, *assets);
}

void WorkerPool::WarnModelMismatch(int worker, const std::string& model_id) {
  Slot& s = slot(worker);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (s.mismatch_warned == model_id) return;
    s.mismatch_warned = model_id;
  }
  LOG(WARNING) << "worker " << s.client->address() << " serves model '"
               << model_id << "', not '" << s.pool
               << "' as configured: not routing to it";
}

void WorkerPool::RefreshAll() {
  DiscoverOnce();
  std::vector<int> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i]->retired) live.push_back(static_cast<int>(i));
    }
  }
  std::vector<std::thread> polls;
  for (int i : live) {
    polls.emplace_back([this, i] {
      Poll(i);
      std::lock_guard<std::mutex> lock(mu_);
      slots_[i]->last_poll = absl::Now();
    });
  }
  for (std::thread& t : polls) t.join();
}

void WorkerPool::PollLoop(int worker) {
  std::unique_lock<std::mutex> lock(mu_);
  Slot& s = *slots_[worker];
  while (!stopping_ && !s.retired) {
    const absl::Time now = absl::Now();
    const absl::Time due = s.breaker.ejected()
                               ? s.breaker.next_probe()
                               : s.last_poll + options_.refresh_interval;
    if (now < due) {
      stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(due - now));
      continue;  // Recompute: stopped, retired, ejected or time is up.
    }
    lock.unlock();
    Poll(worker);
    lock.lock();
    s.last_poll = absl::Now();
  }
  s.poller_running = false;
}

void WorkerPool::StartBackgroundRefresh() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i]->retired) StartPollerLocked(static_cast<int>(i));
  }
  bool any_dns = false;
  for (const ModelPool& m : options_.models) any_dns |= !m.dns.empty();
  if (any_dns) discovery_thread_ = std::thread([this] { DiscoveryLoop(); });
}

void WorkerPool::DiscoverOnce() {
  for (const ModelPool& m : options_.models) {
    if (m.dns.empty()) continue;
    absl::StatusOr<std::vector<std::string>> resolved =
        resolver_->Resolve(m.dns);
    if (!resolved.ok()) {  // Keep the workers we have.
      LOG(WARNING) << "model '" << m.name
                   << "': " << resolved.status().message();
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    std::vector<std::string> current;
    for (const std::unique_ptr<Slot>& s : slots_) {
      if (s->pool == m.name && s->from_dns && !s->retired) {
        current.push_back(s->client->address());
      }
    }
    const TargetDiff diff = DiffTargets(current, *resolved);
    for (const std::string& address : diff.added) {
      AddOrReviveLocked(m.name, address, /*from_dns=*/true);
    }
    for (const std::string& address : diff.removed) {
      for (size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = *slots_[i];
        if (s.pool != m.name || s.client->address() != address) continue;
        s.from_dns = false;
        if (!s.from_static) RetireLocked(static_cast<int>(i));
      }
    }
  }
}

void WorkerPool::DiscoveryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock,
                      absl::ToChronoNanoseconds(options_.discovery_interval),
                      [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    DiscoverOnce();
    lock.lock();
  }
}

}  // namespace infernum::router
