// The configured workers: their gRPC clients, their health and models.
//
// One background thread per worker polls it every `refresh_interval`:
// grpc.health.v1 Check, and GetModelInfo when the model is not known yet,
// the worker just came back (it may have restarted with another model), or
// every `model_info_refresh`. The results go into the ModelRegistry. Workers
// unreachable at start are simply retried on the next poll. Request handlers
// call PickWorker() and report failures with MarkUnavailable().
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "router/server/model_assets.h"
#include "router/server/model_registry.h"
#include "router/server/routing_policy.h"
#include "router/server/worker_client.h"

namespace infernum::router {

class WorkerPool {
 public:
  struct Options {
    std::vector<std::string> addresses;  // host:port
    absl::Duration refresh_interval = absl::Seconds(5);
    absl::Duration health_timeout = absl::Seconds(2);
    absl::Duration model_info_timeout = absl::Seconds(60);
    absl::Duration model_info_refresh = absl::Minutes(1);
  };

  WorkerPool(Options options, std::unique_ptr<RoutingPolicy> policy);
  // Stops the poll threads (waits at most one in-flight RPC deadline).
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Polls every worker once, in parallel, and returns when all are done.
  void RefreshAll();
  // Starts the periodic polling threads (idempotent).
  void StartBackgroundRefresh();

  const ModelRegistry& registry() const { return registry_; }
  int num_workers() const { return static_cast<int>(clients_.size()); }
  const WorkerClient& client(int worker) const { return *clients_.at(worker); }

  // Chooses a healthy worker among `route_workers` (from
  // ModelRegistry::Find) minus `excluded`, with the routing policy. nullopt
  // when none is left.
  std::optional<int> PickWorker(const PickRequest& request,
                                absl::Span<const int> route_workers,
                                absl::Span<const int> excluded);

  // A Generate call found `worker` unreachable: stop routing to it until the
  // next successful poll.
  void MarkUnavailable(int worker);

 private:
  void Poll(int worker);
  void PollLoop(int worker);

  Options options_;
  std::unique_ptr<RoutingPolicy> policy_;
  std::vector<std::unique_ptr<WorkerClient>> clients_;
  ModelRegistry registry_;
  AssetCache assets_;

  std::mutex mu_;  // Guards stopping_, threads_, info_time_ and down_marks_.
  std::vector<absl::Time> info_time_;  // Last GetModelInfo per worker.
  // Times MarkUnavailable was called per worker: a poll that started before
  // the latest mark must not mark the worker healthy again.
  std::vector<uint64_t> down_marks_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace infernum::router
