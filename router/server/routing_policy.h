// Which worker serves a sequence. A policy only chooses among candidates the
// registry already filtered (healthy, serving the model, not excluded after
// a failure); it never sees unhealthy workers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/types/span.h"

namespace infernum::router {

struct WorkerCandidate {
  int worker = 0;         // Index in the WorkerPool.
  int num_in_flight = 0;  // Generate streams open on it from this router.
};

// What is known about the sequence being placed (for load- and
// prefix-aware policies).
struct PickRequest {
  std::string_view model_id;
  absl::Span<const int32_t> prompt_token_ids;
};

class RoutingPolicy {
 public:
  virtual ~RoutingPolicy() = default;
  // Returns an index into `candidates` (non-empty). Thread-safe.
  virtual size_t Pick(const PickRequest& request,
                      absl::Span<const WorkerCandidate> candidates) = 0;
};

// Cycles through the candidates, one counter per model.
class RoundRobinPolicy final : public RoutingPolicy {
 public:
  size_t Pick(const PickRequest& request,
              absl::Span<const WorkerCandidate> candidates) override;

 private:
  std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> next_;
};

std::unique_ptr<RoutingPolicy> MakeDefaultRoutingPolicy();

}  // namespace infernum::router
