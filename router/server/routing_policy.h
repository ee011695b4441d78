// Which worker serves a sequence. A policy only chooses among candidates the
// pool already filtered (healthy, serving the model, not excluded after a
// failure); it never sees unhealthy workers.
//
// Policies (config `policy`):
//   round_robin   cycles through the candidates, one counter per model.
//   least_load    the candidate with the lowest LoadScore (ties rotate).
//   prefix_aware  the candidate whose PrefixIndex holds the longest prefix of
//                 the prompt's block hashes, unless the pool is imbalanced
//                 (see PrefixAwareConfig): then the least loaded
//                 (prefix_index.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/server/config.h"

namespace infernum::router {

struct WorkerCandidate {
  int worker = 0;         // Index in the WorkerPool.
  int num_in_flight = 0;  // Generate streams open on it from this router.
  // From the worker's latest load report (0 until one arrived).
  int64_t num_running = 0;
  int64_t num_waiting = 0;
  double kv_cache_usage = 0;  // In [0, 1].
  int block_size = 0;         // KV block size of its model (0 = unknown).
};

// Weight of a full KV cache in LoadScore, in "queued requests".
inline constexpr double kKvUsageLoadWeight = 4;

// The load used by least_load and prefix_aware:
//   num_in_flight + num_waiting + kKvUsageLoadWeight * kv_cache_usage.
// num_in_flight is this router's real-time count of open streams (it covers
// requests that are running or queued on the worker); num_waiting (the
// worker's queue, from the last load report, also counting other routers'
// requests) adds queueing pressure, and KV usage breaks ties between
// equally busy workers in favour of the one with free cache.
double LoadScore(const WorkerCandidate& candidate);

// What is known about the sequence being placed (for load- and
// prefix-aware policies).
struct PickRequest {
  std::string_view model_id;
  absl::Span<const int32_t> prompt_token_ids;
};

class RoutingPolicy {
 public:
  virtual ~RoutingPolicy() = default;
  // Returns an index into `candidates` (non-empty). Thread-safe. Stateful
  // policies record the choice (round-robin counter, prefix index).
  virtual size_t Pick(const PickRequest& request,
                      absl::Span<const WorkerCandidate> candidates) = 0;
  // The config name ("round_robin", ...), for metrics labels.
  virtual std::string_view name() const { return "custom"; }
  // `worker` was removed or ejected: drop what is remembered about it (its
  // cache may be gone). Thread-safe.
  virtual void ForgetWorker(int worker) {}
};

// Cycles through the candidates, one counter per model.
class RoundRobinPolicy final : public RoutingPolicy {
 public:
  size_t Pick(const PickRequest& request,
              absl::Span<const WorkerCandidate> candidates) override;
  std::string_view name() const override { return kPolicyRoundRobin; }

 private:
  std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> next_;
};

// Lowest LoadScore; among equal scores, rotates so that an idle pool is
// still spread evenly.
class LeastLoadPolicy final : public RoutingPolicy {
 public:
  size_t Pick(const PickRequest& request,
              absl::Span<const WorkerCandidate> candidates) override;
  std::string_view name() const override { return kPolicyLeastLoad; }

 private:
  std::mutex mu_;
  uint64_t next_ = 0;
};

// Index of the candidate with the lowest LoadScore; ties go to the first one
// at or after `rotate % candidates.size()` (cyclically). Only candidates with
// `eligible[i]` (all when empty) are considered; at least one must be.
size_t LeastLoaded(absl::Span<const WorkerCandidate> candidates,
                   uint64_t rotate, absl::Span<const bool> eligible = {});

// `name` is a config policy name; prefix_aware uses `prefix_aware`.
// InvalidArgument for an unknown name.
absl::StatusOr<std::unique_ptr<RoutingPolicy>> MakeRoutingPolicy(
    std::string_view name, const PrefixAwareConfig& prefix_aware = {});

// Round robin.
std::unique_ptr<RoutingPolicy> MakeDefaultRoutingPolicy();

}  // namespace infernum::router
