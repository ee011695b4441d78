// The workers: their gRPC clients, health, load, models and routing.
//
// Workers come in pools: the legacy `workers:` list (each worker's model is
// whatever its GetModelInfo says) and one pool per router.yaml `models:`
// entry (static targets plus an optional DNS name re-resolved every
// `discovery_interval`; every address is a worker, added and retired live).
// A worker of a named pool that reports another model id is not used (it is
// logged as a warning and shown unhealthy).
//
// One background thread per worker polls it: grpc.health.v1 Check,
// GetModelInfo when its model is unknown, it was ejected, or every
// `model_info_refresh`, then GetLoad (running / waiting / KV usage, used by
// least_load and prefix_aware). A failed poll or a MarkUnavailable() ejects
// the worker (CircuitBreaker): it is probed again after
// eject_backoff_initial, doubling up to eject_backoff_max, until a probe
// succeeds. Unreachable workers at start are simply ejected and probed.
//
// Worker indices are stable for the pool's lifetime: a worker discovery
// removes is retired (never routed to, its WorkerClient kept alive so open
// streams finish); the same address reappearing reuses its slot. Memory thus
// grows by one small slot per distinct address ever seen.
//
// Request handlers: registry().Find(model) -> PickWorker() -> client(w)
// (TrackInFlight(), stub()) -> MarkUnavailable(w) on UNAVAILABLE.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "router/server/circuit_breaker.h"
#include "router/server/config.h"
#include "router/server/discovery.h"
#include "router/server/model_assets.h"
#include "router/server/model_registry.h"
#include "router/server/routing_policy.h"
#include "router/server/worker_client.h"

namespace infernum::router {

// One live worker, for metrics and /ready.
struct WorkerSnapshot {
  std::string address;
  std::string model_id;  // Its pool's model name, else the reported id.
  bool healthy = false;
  int num_in_flight = 0;       // Open Generate streams from this router.
  uint64_t num_ejections = 0;  // Circuit-breaker ejections so far.
  int64_t num_running = 0;     // From its latest load report.
  int64_t num_waiting = 0;
  double kv_cache_usage = 0;  // In [0, 1].
};

class WorkerPool {
 public:
  // A `models:` entry.
  struct ModelPool {
    std::string name;
    std::vector<std::string> addresses;  // Static host:port targets.
    std::string dns;                     // "name:port" or "" (none).
    // Policy for requests of this model; null = the pool's default policy.
    std::shared_ptr<RoutingPolicy> policy;
  };

  struct Options {
    std::vector<std::string> addresses;  // Legacy `workers:` (host:port).
    absl::Duration refresh_interval = absl::Seconds(5);
    absl::Duration health_timeout = absl::Seconds(2);
    absl::Duration model_info_timeout = absl::Seconds(60);
    absl::Duration model_info_refresh = absl::Minutes(1);
    absl::Duration load_timeout = absl::Seconds(1);
    std::vector<ModelPool> models;
    absl::Duration discovery_interval = absl::Seconds(10);
    absl::Duration eject_backoff_initial = absl::Seconds(1);
    absl::Duration eject_backoff_max = absl::Seconds(30);
    std::shared_ptr<Resolver> resolver;  // Null = SystemResolver.
  };

  // `policy` routes the legacy pool and models without their own policy.
  // Connects nothing yet: call RefreshAll() and StartBackgroundRefresh().
  WorkerPool(Options options, std::unique_ptr<RoutingPolicy> policy);

  // The pool router.yaml describes: `workers`, `models` (each with its
  // EffectivePolicy and prefix_aware settings), timings. InvalidArgument
  // when `config` does not validate. `resolver` null = SystemResolver.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> FromConfig(
      const RouterConfig& config, std::shared_ptr<Resolver> resolver = nullptr);

  // Stops the poll and discovery threads (waits at most one in-flight RPC
  // deadline).
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Resolves every DNS entry once, then polls every live worker once, in
  // parallel, and returns when all are done.
  void RefreshAll();
  // Starts the periodic poll and discovery threads (idempotent).
  void StartBackgroundRefresh();
  // One DNS round: resolve every `dns` entry, add / retire workers.
  void DiscoverOnce();

  const ModelRegistry& registry() const { return registry_; }
  // Worker indices handed out so far (retired ones included).
  int num_workers() const;
  // Valid for every index ever returned (retired workers included) for the
  // pool's lifetime.
  const WorkerClient& client(int worker) const;

  // Chooses a healthy worker among `route_workers` (from
  // ModelRegistry::Find) minus `excluded`, with the model's routing policy.
  // nullopt when none is left.
  std::optional<int> PickWorker(const PickRequest& request,
                                absl::Span<const int> route_workers,
                                absl::Span<const int> excluded);

  // A Generate call found `worker` unreachable: eject it (circuit breaker)
  // until a probe succeeds.
  void MarkUnavailable(int worker);

  // Live (not retired) workers in index order.
  std::vector<WorkerSnapshot> Snapshot() const;
  // Every `models:` entry has a healthy worker, and with a `workers:` list
  // at least one of those is healthy. False when nothing is configured.
  bool Ready() const;
  // The policy name ("round_robin", ...) requests for `model_id` use.
  std::string PolicyName(std::string_view model_id) const;

 private:
  // One worker target. Immutable fields are read without mu_; the rest is
  // guarded by mu_.
  struct Slot {
    Slot(std::string pool_name, const std::string& address,
         CircuitBreaker::Options backoff)
        : pool(std::move(pool_name)),
          client(std::make_unique<WorkerClient>(address)),
          breaker(backoff) {}
    const std::string pool;  // Model name of its `models:` entry; "" legacy.
    const std::unique_ptr<WorkerClient> client;
    CircuitBreaker breaker;    // Thread-safe on its own.
    bool from_static = false;  // Listed in a static `workers` list.
    bool from_dns = false;     // In the latest DNS answer of its pool.
    bool retired = false;
    bool poller_running = false;
    std::thread poller;
    absl::Time last_poll = absl::InfinitePast();
    absl::Time info_time = absl::InfinitePast();  // Last GetModelInfo.
    std::shared_ptr<const ModelAssets> assets;    // Its result.
    std::string mismatch_warned;                  // Model id last warned about.
    std::optional<v1::LoadReport> load;
  };

  // Appends (or reactivates) the worker `address` of pool `pool` ("" =
  // legacy). Requires mu_ held.
  void AddOrReviveLocked(const std::string& pool, const std::string& address,
                         bool from_dns);
  void RetireLocked(int worker);
  void StartPollerLocked(int worker);
  Slot& slot(int worker) const;  // Locks mu_ briefly.
  RoutingPolicy& PolicyFor(std::string_view model_id) const;
  void ForgetInPolicies(int worker);

  void Poll(int worker);
  void OnPollFailure(int worker, const absl::Status& status);
  void WarnModelMismatch(int worker, const std::string& model_id);
  absl::StatusOr<std::shared_ptr<const ModelAssets>> CurrentModel(int worker);
  void PollLoop(int worker);
  void DiscoveryLoop();

  const Options options_;
  std::unique_ptr<RoutingPolicy> default_policy_;
  std::map<std::string, std::shared_ptr<RoutingPolicy>, std::less<>>
      model_policies_;
  std::shared_ptr<Resolver> resolver_;
  ModelRegistry registry_{0};
  AssetCache assets_;

  mutable std::mutex mu_;  // Guards slots_ (and Slot's mutable fields),
                           // stopping_, started_, discovery_thread_.
  std::vector<std::unique_ptr<Slot>> slots_;
  std::condition_variable stop_cv_;  // Wakes pollers: stop, retire, eject.
  bool stopping_ = false;
  bool started_ = false;
  std::thread discovery_thread_;
};

}  // namespace infernum::router
