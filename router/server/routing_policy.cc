#include "router/server/routing_policy.h"

namespace infernum::router {

size_t RoundRobinPolicy::Pick(const PickRequest& request,
                              absl::Span<const WorkerCandidate> candidates) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = next_.find(request.model_id);
  if (it == next_.end()) {
    it = next_.emplace(std::string(request.model_id), 0).first;
  }
  return static_cast<size_t>(it->second++ % candidates.size());
}

std::unique_ptr<RoutingPolicy> MakeDefaultRoutingPolicy() {
  return std::make_unique<RoundRobinPolicy>();
}

}  // namespace infernum::router
