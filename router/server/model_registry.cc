#include "router/server/model_registry.h"

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "router/api/errors.h"

namespace infernum::router {

ModelRegistry::ModelRegistry(int num_workers) : workers_(num_workers) {}

int ModelRegistry::AddWorker() {
  std::lock_guard<std::mutex> lock(mu_);
  workers_.emplace_back();
  return static_cast<int>(workers_.size()) - 1;
}

void ModelRegistry::SetRetired(int worker, bool retired) {
  std::lock_guard<std::mutex> lock(mu_);
  WorkerState& w = workers_.at(worker);
  w.retired = retired;
  w.healthy = false;
  w.assets = nullptr;
}

bool ModelRegistry::IsRetired(int worker) const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.at(worker).retired;
}

void ModelRegistry::AddConfiguredModel(std::string model_id) {
  std::lock_guard<std::mutex> lock(mu_);
  configured_.insert(std::move(model_id));
}

void ModelRegistry::SetWorker(int worker, bool healthy,
                              std::shared_ptr<const ModelAssets> assets) {
  std::lock_guard<std::mutex> lock(mu_);
  WorkerState& w = workers_.at(worker);
  if (w.retired) return;
  w.healthy = healthy;
  if (assets != nullptr) w.assets = std::move(assets);
}

void ModelRegistry::MarkUnhealthy(int worker) {
  std::lock_guard<std::mutex> lock(mu_);
  workers_.at(worker).healthy = false;
}

bool ModelRegistry::IsHealthy(int worker) const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.at(worker).healthy;
}

std::shared_ptr<const ModelAssets> ModelRegistry::WorkerModel(
    int worker) const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.at(worker).assets;
}

absl::StatusOr<ModelRegistry::Route> ModelRegistry::Find(
    std::string_view model_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  Route route;
  bool known = configured_.contains(model_id);
  bool any_healthy = false;
  for (size_t i = 0; i < workers_.size(); ++i) {
    const WorkerState& w = workers_[i];
    if (w.retired) continue;
    any_healthy |= w.healthy;
    if (w.assets == nullptr || w.assets->model_id != model_id) continue;
    known = true;
    if (!w.healthy) continue;
    if (route.assets == nullptr) route.assets = w.assets;
    route.workers.push_back(static_cast<int>(i));
  }
  if (!route.workers.empty()) return route;
  const std::string id(model_id);
  if (known || !any_healthy) {
    return MakeApiError(
        ErrorKind::kServiceUnavailable,
        known ? absl::StrCat("no healthy worker is serving model '", id, "'")
              : "no worker is available; try again later");
  }
  return MakeApiError(ErrorKind::kModelNotFound,
                      absl::StrCat("The model '", id, "' does not exist"),
                      "model");
}

std::vector<std::shared_ptr<const ModelAssets>> ModelRegistry::ServedModels()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::shared_ptr<const ModelAssets>> by_id;
  for (const WorkerState& w : workers_) {
    if (w.healthy && w.assets != nullptr)
      by_id.emplace(w.assets->model_id, w.assets);
  }
  std::vector<std::shared_ptr<const ModelAssets>> out;
  for (auto& [id, assets] : by_id) out.push_back(std::move(assets));
  return out;
}

int ModelRegistry::num_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(
      std::count_if(workers_.begin(), workers_.end(),
                    [](const WorkerState& w) { return !w.retired; }));
}

int ModelRegistry::num_slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(workers_.size());
}

int ModelRegistry::num_healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(
      std::count_if(workers_.begin(), workers_.end(),
                    [](const WorkerState& w) { return w.healthy; }));
}

}  // namespace infernum::router
