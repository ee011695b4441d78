// Offline throughput benchmarks of `infernum bench` through worker::Engine:
//  - batching: N requests submitted at once vs the same requests one at a
//    time, in the same run (output and decode tokens/s, TTFT, ITL, KV use);
//  - shared prefix: M requests sharing a P-token prefix, with prefix caching
//    on vs off, side by side (prefill tokens skipped, prefill speedup).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/engine_types.h"
#include "worker/model_setup.h"

namespace infernum::cli {

struct ThroughputOptions {
  int num_requests = 32;
  int input_len = 128;  // prompt tokens (after the shared prefix, if any)
  int output_len = 64;  // max_tokens per request
  bool ignore_eos = false;
  int shared_prefix_len = 0;   // > 0 selects the shared-prefix benchmark
  bool run_sequential = true;  // batching mode: also run one at a time
  uint64_t seed = 0;           // prompt token ids
  // KV size 0 => enough for every request at once (at most 1 GiB).
  worker::EngineConfig engine;
};

// Runs the benchmark the options select and prints its report to stdout.
// Returns the process exit code (1 if a run failed).
int RunThroughputBench(const worker::LoadedModel& loaded,
                       const ThroughputOptions& options);

// One offline-throughput workload: input_len prompt tokens and output_len
// generated tokens per request.
struct ThroughputShape {
  int input_len = 0;
  int output_len = 0;
};

// Parses "IN:OUT[,IN:OUT...]" (e.g. "1024:128,128:128"): each IN >= 1 and
// OUT >= 1, at most 2^20 each, at most 16 shapes. InvalidArgument naming
// --throughput otherwise.
absl::StatusOr<std::vector<ThroughputShape>> ParseThroughputShapes(
    std::string_view text);

struct LatencyStats {
  double mean_ms = 0, p50_ms = 0, p99_ms = 0;
};

// The concurrent run of the batching benchmark.
struct ThroughputResult {
  int num_requests = 0, input_len = 0, output_len = 0;
  double wall_s = 0;
  double output_tok_s = 0;  // generated tokens / wall time
  double total_tok_s = 0;   // (computed prompt + generated) / wall time
  double decode_tok_s = 0;  // tokens of steps that computed no prompt token
  LatencyStats ttft;        // submission -> first token, per request
  LatencyStats itl;         // gaps between consecutive tokens
  double peak_kv_cache_usage = 0;  // fraction of the blocks
  int num_kv_blocks = 0;
  int64_t num_preemptions = 0;
  int64_t num_steps = 0;
};

// The batching benchmark alone (shared_prefix_len must be 0): submits every
// request at once to a fresh engine (and, with run_sequential, one at a
// time to another), prints the table to stdout and returns the concurrent
// run's figures. Errors: the engine's, or the first failed request's.
absl::StatusOr<ThroughputResult> RunBatchingBench(
    const worker::LoadedModel& loaded, const ThroughputOptions& options);

}  // namespace infernum::cli
