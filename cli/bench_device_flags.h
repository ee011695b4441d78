// Options of the device benchmark of `infernum bench` (bench_device_run.h)
// and their flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "cli/bench_device.h"
#include "cli/bench_throughput.h"
#include "models/io/model_config.h"
#include "worker/engine/engine_types.h"
#include "worker/model_setup.h"

namespace infernum::cli {

struct DeviceBenchOptions {
  int prompt_len = 128;  // batch-1 decode: prompt before the decode steps
  int decode_len = 32;
  int prefill_len = 128;  // == prompt_len: the decode run's prefill is used
  int reps = 3;
  size_t copy_bytes = size_t{1} << 30;
  std::optional<GemmShape> gemm_shape;      // unset: DefaultGemmShape(device)
  std::vector<ThroughputShape> throughput;  // empty: no throughput runs
  int num_requests = 256;                   // per throughput shape
  bool ignore_eos = true;
  bool run_sequential = false;
  uint64_t seed = 0;
  worker::EngineConfig engine;  // from the engine flags
  double gpu_memory_utilization = worker::kDefaultGpuMemoryUtilization;
  std::string json_path;  // empty: no JSON
};

// Every flag of `infernum bench` (but `bench serve`): the model flags, the
// device benchmark's, the throughput mode's, the engine flags and --help.
std::vector<FlagSpec> BenchFlagSpecs();

// Reads and range-checks the bench flags (--prompt-len, --decode-len,
// --prefill-len, --reps, --copy-mib, --gemm-shape, --throughput,
// --num-requests, --ignore-eos, --sequential, --seed, the engine flags,
// --gpu-memory-utilization, --json). --prefill-len defaults to 2048 with
// --backend cuda, else to --prompt-len. Creates the --json file (empty) to
// check that it can be written. InvalidArgument naming the flag.
absl::StatusOr<DeviceBenchOptions> DeviceBenchOptionsFromFlags(
    const ParsedArgs& args);

// InvalidArgument when a run does not fit the model's context
// (prompt_len + decode_len, prefill_len + 1, a throughput shape's
// input + output beyond max_model_len or the model's context).
absl::Status CheckDeviceBenchFits(const DeviceBenchOptions& options,
                                  const models::ModelConfig& config);

}  // namespace infernum::cli
