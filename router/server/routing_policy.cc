#include "router/server/routing_policy.h"

#include "absl/strings/str_cat.h"
#include "router/server/prefix_index.h"

namespace infernum::router {

double LoadScore(const WorkerCandidate& c) {
  return static_cast<double>(c.num_in_flight) +
         static_cast<double>(c.num_waiting) +
         kKvUsageLoadWeight * c.kv_cache_usage;
}

size_t RoundRobinPolicy::Pick(const PickRequest& request,
                              absl::Span<const WorkerCandidate> candidates) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = next_.find(request.model_id);
  if (it == next_.end()) {
    it = next_.emplace(std::string(request.model_id), 0).first;
  }
  return static_cast<size_t>(it->second++ % candidates.size());
}

size_t LeastLoaded(absl::Span<const WorkerCandidate> candidates,
                   uint64_t rotate, absl::Span<const bool> eligible) {
  const size_t n = candidates.size();
  size_t best = n;
  double best_load = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (rotate + k) % n;
    if (!eligible.empty() && !eligible[i]) continue;
    const double load = LoadScore(candidates[i]);
    if (best == n || load < best_load) {
      best = i;
      best_load = load;
    }
  }
  return best == n ? 0 : best;
}

size_t LeastLoadPolicy::Pick(const PickRequest&,
                             absl::Span<const WorkerCandidate> candidates) {
  uint64_t rotate;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rotate = next_++;
  }
  return LeastLoaded(candidates, rotate);
}

absl::StatusOr<std::unique_ptr<RoutingPolicy>> MakeRoutingPolicy(
    std::string_view name, const PrefixAwareConfig& prefix_aware) {
  if (name == kPolicyRoundRobin) return std::make_unique<RoundRobinPolicy>();
  if (name == kPolicyLeastLoad) return std::make_unique<LeastLoadPolicy>();
  if (name == kPolicyPrefixAware) {
    return std::make_unique<PrefixAwarePolicy>(prefix_aware);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown routing policy '", std::string(name), "'"));
}

std::unique_ptr<RoutingPolicy> MakeDefaultRoutingPolicy() {
  return std::make_unique<RoundRobinPolicy>();
}

}  // namespace infernum::router
