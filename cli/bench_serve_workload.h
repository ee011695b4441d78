// Workloads of `infernum bench serve` (the prompts it sends) and the worker
// counters it reads around a run to report how much prefill the cluster
// actually computed.
//
// Datasets:
//   random         every prompt is input_len uniform random token ids.
//   shared-prefix  num_prefixes random "system prompts" of prefix_len ids;
//                  request i uses one of them (drawn uniformly, seeded) plus
//                  its own random suffix of suffix_len ids. Models many
//                  users sharing a few long system prompts, the traffic a
//                  prefix-aware router is built for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace infernum::cli {

struct WorkloadParams {
  std::string dataset = "random";  // "random" | "shared-prefix".
  int num_prompts = 100;
  int input_len = 128;  // random: prompt length.
  int num_prefixes = 4;
  int prefix_len = 1000;
  int suffix_len = 32;
  int32_t vocab = 259;  // Ids are drawn from [3, vocab).
  uint64_t seed = 0;
};

// Checks dataset name and lengths; InvalidArgument naming the flag.
absl::Status ValidateWorkload(const WorkloadParams& p);

// The prompts of a run (p must be valid). Deterministic in p.
std::vector<std::vector<int32_t>> MakePrompts(const WorkloadParams& p);

// The untimed warm-up request's prompt: for shared-prefix a random prompt
// of suffix_len ids that shares no prefix with the run (so it warms the
// connections, not the prefix caches); for random the first prompt.
std::vector<int32_t> WarmupPrompt(const WorkloadParams& p,
                                  const std::vector<std::vector<int32_t>>& run);

// Sum of the values of every sample named exactly `name` (any labels) in a
// Prometheus text exposition; 0 when there is none. Comment lines and
// malformed lines are skipped.
double SumSamples(std::string_view exposition, std::string_view name);

// Worker counters summed over a set of /metrics endpoints.
struct WorkerCounters {
  double prompt_tokens = 0;      // infernum:prompt_tokens_total
  double prefix_cache_hits = 0;  // infernum:prefix_cache_hits_total
  double generation_tokens = 0;  // infernum:generation_tokens_total
  // Prompt tokens the workers ran through the model (not served from a
  // prefix cache).
  double prefill_computed() const { return prompt_tokens - prefix_cache_hits; }
};

// Parses the counters out of one exposition.
WorkerCounters CountersFromText(std::string_view exposition);

// GETs each base URL's /metrics ("http://host:port") and sums the counters;
// Unavailable naming the URL when one cannot be read.
absl::StatusOr<WorkerCounters> ScrapeCounters(
    const std::vector<std::string>& urls);

// ScrapeCounters until two readings 100 ms apart agree (at most ~1 s): a
// worker may count a request's last tokens just after the client saw the end
// of its stream.
absl::StatusOr<WorkerCounters> ScrapeSettledCounters(
    const std::vector<std::string>& urls);

// after - before, field by field.
WorkerCounters Delta(const WorkerCounters& after, const WorkerCounters& before);

}  // namespace infernum::cli
