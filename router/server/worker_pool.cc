#include "router/server/worker_pool.h"

#include <algorithm>

#include "common/logging.h"

namespace infernum::router {

WorkerPool::WorkerPool(Options options, std::unique_ptr<RoutingPolicy> policy)
    : options_(std::move(options)),
      policy_(std::move(policy)),
      registry_(static_cast<int>(options_.addresses.size())),
      info_time_(options_.addresses.size(), absl::InfinitePast()),
      down_marks_(options_.addresses.size(), 0) {
  for (const std::string& address : options_.addresses) {
    clients_.push_back(std::make_unique<WorkerClient>(address));
  }
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Poll(int worker) {
  const WorkerClient& c = *clients_[worker];
  uint64_t marks_at_start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    marks_at_start = down_marks_[worker];
  }
  const absl::Status health = c.CheckHealth(options_.health_timeout);
  const bool was_healthy = registry_.IsHealthy(worker);
  if (!health.ok()) {
    if (was_healthy) LOG(WARNING) << "worker down: " << health.message();
    registry_.SetWorker(worker, false, nullptr);
    return;
  }
  std::shared_ptr<const ModelAssets> assets = registry_.WorkerModel(worker);
  bool stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stale = absl::Now() - info_time_[worker] > options_.model_info_refresh;
  }
  if (assets == nullptr || !was_healthy || stale) {
    auto info = c.GetModelInfo(options_.model_info_timeout);
    if (!info.ok()) {
      LOG(WARNING) << info.status().message();
      registry_.SetWorker(worker, false, nullptr);
      return;
    }
    auto built = assets_.Get(*info);
    if (!built.ok()) {
      LOG(ERROR) << "worker " << c.address()
                 << " serves an unusable model: " << built.status().message();
      registry_.SetWorker(worker, false, nullptr);
      return;
    }
    assets = *built;
    {
      std::lock_guard<std::mutex> lock(mu_);
      info_time_[worker] = absl::Now();
    }
    LOG(INFO) << "worker " << c.address() << " serves model '"
              << assets->model_id << "' (context " << assets->max_context_length
              << ")";
  }
  {
    // A request saw this worker fail while the poll ran: the poll's view is
    // older than that, so leave the worker down until the next poll.
    std::lock_guard<std::mutex> lock(mu_);
    if (down_marks_[worker] != marks_at_start) return;
  }
  registry_.SetWorker(worker, true, assets);
}

void WorkerPool::RefreshAll() {
  std::vector<std::thread> polls;
  for (int i = 0; i < num_workers(); ++i) {
    polls.emplace_back([this, i] { Poll(i); });
  }
  for (std::thread& t : polls) t.join();
}

void WorkerPool::PollLoop(int worker) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Poll(worker);
    lock.lock();
    stop_cv_.wait_for(lock,
                      absl::ToChronoMilliseconds(options_.refresh_interval),
                      [this] { return stopping_; });
  }
}

void WorkerPool::StartBackgroundRefresh() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!threads_.empty() || stopping_) return;
  for (int i = 0; i < num_workers(); ++i) {
    threads_.emplace_back([this, i] { PollLoop(i); });
  }
}

std::optional<int> WorkerPool::PickWorker(const PickRequest& request,
                                          absl::Span<const int> route_workers,
                                          absl::Span<const int> excluded) {
  std::vector<WorkerCandidate> candidates;
  for (int w : route_workers) {
    if (std::find(excluded.begin(), excluded.end(), w) != excluded.end()) {
      continue;
    }
    if (!registry_.IsHealthy(w)) continue;
    candidates.push_back({w, clients_[w]->num_in_flight()});
  }
  if (candidates.empty()) return std::nullopt;
  const size_t i = policy_->Pick(request, candidates);
  return candidates[std::min(i, candidates.size() - 1)].worker;
}

void WorkerPool::MarkUnavailable(int worker) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++down_marks_[worker];
  }
  if (registry_.IsHealthy(worker)) {
    LOG(WARNING) << "worker " << clients_[worker]->address()
                 << " unavailable; routing around it until the next poll";
  }
  registry_.MarkUnhealthy(worker);
}

}  // namespace infernum::router
