// Offline throughput benchmarks of `infernum bench` through worker::Engine:
//  - batching: N requests submitted at once vs the same requests one at a
//    time, in the same run (output and decode tokens/s, TTFT, ITL, KV use);
//  - shared prefix: M requests sharing a P-token prefix, with prefix caching
//    on vs off, side by side (prefill tokens skipped, prefill speedup).
#pragma once

#include <cstdint>

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

}  // namespace infernum::cli
