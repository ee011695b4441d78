// Which worker serves which model, and which workers are healthy.
//
// The WorkerPool writes it after every poll; request handlers read it to
// resolve a request's "model" into the model's assets and the healthy
// workers serving it. A worker that becomes unhealthy keeps its last known
// model, so requests for that model get 503 (not 404) while it is down; so do
// requests for a model named in router.yaml `models:` that no worker serves
// yet. Workers are only ever appended (indices stay valid); a worker removed
// by discovery is retired: it counts nowhere until reactivated. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/server/model_assets.h"

namespace infernum::router {

class ModelRegistry {
 public:
  explicit ModelRegistry(int num_workers);

  // Appends an unhealthy worker with no model; returns its index.
  int AddWorker();
  // Retired: unhealthy, model forgotten, not counted by num_workers().
  // Reactivating makes it an unhealthy worker with no model again.
  void SetRetired(int worker, bool retired);
  bool IsRetired(int worker) const;
  // A model configured by name: Find() answers 503 (not 404) for it while
  // no worker serves it.
  void AddConfiguredModel(std::string model_id);

  // Records a poll of `worker` (0 <= worker < num_workers()). `assets` may be
  // null (model not known yet); a null never erases a known model.
  void SetWorker(int worker, bool healthy,
                 std::shared_ptr<const ModelAssets> assets);
  // Marks `worker` unhealthy until the next successful poll.
  void MarkUnhealthy(int worker);

  bool IsHealthy(int worker) const;
  std::shared_ptr<const ModelAssets> WorkerModel(int worker) const;

  struct Route {
    std::shared_ptr<const ModelAssets> assets;
    std::vector<int> workers;  // Healthy workers serving the model.
  };
  // Errors are API errors (router/api/errors.h): kModelNotFound (404) when
  // `model_id` is not configured, no live worker ever reported it and some
  // worker is healthy; kServiceUnavailable (503) when no healthy worker
  // serves it.
  absl::StatusOr<Route> Find(std::string_view model_id) const;

  // One entry per model id with at least one healthy worker, sorted by id.
  std::vector<std::shared_ptr<const ModelAssets>> ServedModels() const;

  // Live (not retired) workers.
  int num_workers() const;
  // Every index ever handed out (retired included).
  int num_slots() const;
  int num_healthy() const;

 private:
  struct WorkerState {
    bool healthy = false;
    bool retired = false;
    std::shared_ptr<const ModelAssets> assets;
  };
  mutable std::mutex mu_;
  std::vector<WorkerState> workers_;
  std::set<std::string, std::less<>> configured_;
};

}  // namespace infernum::router
