// WorkerPool: construction, worker slots, routing and snapshots. Polling and
// discovery are in worker_pool_poll.cc.
#include "router/server/worker_pool.h"

#include <algorithm>
#include <set>

#include "common/logging.h"
#include "common/status.h"

namespace infernum::router {

WorkerPool::WorkerPool(Options options, std::unique_ptr<RoutingPolicy> policy)
    : options_(std::move(options)),
      default_policy_(policy != nullptr ? std::move(policy)
                                        : MakeDefaultRoutingPolicy()),
      resolver_(options_.resolver != nullptr
                    ? options_.resolver
                    : std::make_shared<SystemResolver>()) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& address : options_.addresses) {
    AddOrReviveLocked("", address, /*from_dns=*/false);
  }
  for (const ModelPool& m : options_.models) {
    registry_.AddConfiguredModel(m.name);
    if (m.policy != nullptr) model_policies_[m.name] = m.policy;
    for (const std::string& address : m.addresses) {
      AddOrReviveLocked(m.name, address, /*from_dns=*/false);
    }
  }
}

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::FromConfig(
    const RouterConfig& config, std::shared_ptr<Resolver> resolver) {
  RETURN_IF_ERROR(ValidateRouterConfig(config));
  ASSIGN_OR_RETURN(std::unique_ptr<RoutingPolicy> policy,
                   MakeRoutingPolicy(config.policy));
  Options o{
      .addresses = config.workers,
      .refresh_interval = absl::Seconds(config.refresh_interval_s),
      .model_info_timeout = absl::Seconds(config.model_info_timeout_s),
      .discovery_interval = absl::Seconds(config.discovery_interval_s),
      .eject_backoff_initial = absl::Seconds(config.eject_backoff_initial_s),
      .eject_backoff_max = absl::Seconds(config.eject_backoff_max_s),
      .resolver = std::move(resolver)};
  for (const ModelPoolConfig& m : config.models) {
    ASSIGN_OR_RETURN(
        std::unique_ptr<RoutingPolicy> model_policy,
        MakeRoutingPolicy(EffectivePolicy(config, &m), m.prefix_aware));
    o.models.push_back({.name = m.name,
                        .addresses = m.workers,
                        .dns = m.dns,
                        .policy = std::move(model_policy)});
  }
  return std::make_unique<WorkerPool>(std::move(o), std::move(policy));
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (discovery_thread_.joinable()) discovery_thread_.join();
  // No slot is added once stopping_ is set: slots_ is stable now.
  for (const std::unique_ptr<Slot>& s : slots_) {
    if (s->poller.joinable()) s->poller.join();
  }
}

void WorkerPool::AddOrReviveLocked(const std::string& pool,
                                   const std::string& address, bool from_dns) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = *slots_[i];
    if (s.pool != pool || s.client->address() != address) continue;
    (from_dns ? s.from_dns : s.from_static) = true;
    if (s.retired) {
      s.retired = false;
      s.last_poll = absl::InfinitePast();
      s.info_time = absl::InfinitePast();
      s.load.reset();
      s.breaker.Reset();
      registry_.SetRetired(static_cast<int>(i), false);
      LOG(INFO) << "worker " << address << " is back in pool '" << pool << "'";
      StartPollerLocked(static_cast<int>(i));
    }
    return;
  }
  slots_.push_back(std::make_unique<Slot>(
      pool, address,
      CircuitBreaker::Options{.initial = options_.eject_backoff_initial,
                              .max = options_.eject_backoff_max}));
  (from_dns ? slots_.back()->from_dns : slots_.back()->from_static) = true;
  const int index = registry_.AddWorker();
  CHECK(index == static_cast<int>(slots_.size()) - 1)
      << "registry and pool disagree on worker indices";
  if (from_dns) {
    LOG(INFO) << "discovered worker " << address << " for model '" << pool
              << "'";
  }
  StartPollerLocked(index);
}

void WorkerPool::RetireLocked(int worker) {
  Slot& s = *slots_[worker];
  if (s.retired) return;
  s.retired = true;
  registry_.SetRetired(worker, true);
  ForgetInPolicies(worker);
  LOG(INFO) << "worker " << s.client->address() << " left pool '" << s.pool
            << "' (" << s.client->num_in_flight() << " stream(s) still open)";
  stop_cv_.notify_all();  // Its poller exits.
}

WorkerPool::Slot& WorkerPool::slot(int worker) const {
  std::lock_guard<std::mutex> lock(mu_);
  CHECK(worker >= 0 && worker < static_cast<int>(slots_.size()))
      << "no worker " << worker;
  return *slots_[worker];
}

int WorkerPool::num_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(slots_.size());
}

const WorkerClient& WorkerPool::client(int worker) const {
  return *slot(worker).client;
}

RoutingPolicy& WorkerPool::PolicyFor(std::string_view model_id) const {
  auto it = model_policies_.find(model_id);
  return it != model_policies_.end() ? *it->second : *default_policy_;
}

std::string WorkerPool::PolicyName(std::string_view model_id) const {
  return std::string(PolicyFor(model_id).name());
}

void WorkerPool::ForgetInPolicies(int worker) {
  default_policy_->ForgetWorker(worker);
  for (auto& [name, policy] : model_policies_) policy->ForgetWorker(worker);
}

std::optional<int> WorkerPool::PickWorker(const PickRequest& request,
                                          absl::Span<const int> route_workers,
                                          absl::Span<const int> excluded) {
  std::vector<WorkerCandidate> candidates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int w : route_workers) {
      if (w < 0 || w >= static_cast<int>(slots_.size())) continue;
      if (std::find(excluded.begin(), excluded.end(), w) != excluded.end()) {
        continue;
      }
      const Slot& s = *slots_[w];
      if (s.retired || !registry_.IsHealthy(w)) continue;
      WorkerCandidate c{.worker = w,
                        .num_in_flight = s.client->num_in_flight()};
      if (s.load.has_value()) {
        c.num_running = s.load->num_running();
        c.num_waiting = s.load->num_waiting();
        c.kv_cache_usage = s.load->kv_cache_usage();
      }
      if (s.assets != nullptr) c.block_size = s.assets->block_size;
      candidates.push_back(c);
    }
  }
  if (candidates.empty()) return std::nullopt;
  const size_t i = PolicyFor(request.model_id).Pick(request, candidates);
  return candidates[std::min(i, candidates.size() - 1)].worker;
}

void WorkerPool::MarkUnavailable(int worker) {
  Slot& s = slot(worker);
  registry_.MarkUnhealthy(worker);
  if (s.breaker.RecordFailure()) {
    LOG(WARNING) << "worker " << s.client->address()
                 << " unavailable: ejected, probing again in "
                 << s.breaker.backoff();
    ForgetInPolicies(worker);
  }
  stop_cv_.notify_all();  // Its poller reschedules for the probe.
}

std::vector<WorkerSnapshot> WorkerPool::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WorkerSnapshot> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = *slots_[i];
    if (s.retired) continue;
    WorkerSnapshot snap{.address = s.client->address(),
                        .model_id = s.pool,
                        .healthy = registry_.IsHealthy(static_cast<int>(i)),
                        .num_in_flight = s.client->num_in_flight(),
                        .num_ejections = s.breaker.num_ejections()};
    if (snap.model_id.empty() && s.assets != nullptr) {
      snap.model_id = s.assets->model_id;
    }
    if (s.load.has_value()) {
      snap.num_running = s.load->num_running();
      snap.num_waiting = s.load->num_waiting();
      snap.kv_cache_usage = s.load->kv_cache_usage();
    }
    out.push_back(std::move(snap));
  }
  return out;
}

bool WorkerPool::Ready() const {
  if (options_.models.empty() && options_.addresses.empty()) return false;
  for (const ModelPool& m : options_.models) {
    if (!registry_.Find(m.name).ok()) return false;
  }
  if (options_.addresses.empty()) return true;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i]->pool.empty() && !slots_[i]->retired &&
        registry_.IsHealthy(static_cast<int>(i))) {
      return true;
    }
  }
  return false;
}

}  // namespace infernum::router
