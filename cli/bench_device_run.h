// The device benchmark of `infernum bench` (issue 6), on any backend: in one
// process and against figures the same device measures in the same run,
//   1. copy bandwidth (Backend::CopyOnDevice; on the CPU also a parallel
//      host memcpy, the higher one being the roofline's bandwidth) and the
//      GEMM rate (Backend::Matmul, bf16 weights);
//   2. batch-1 decode: tokens/s and the fraction of the bandwidth roofline
//      (bench_device_cost.h: weight + KV bytes per token);
//   3. prefill of prefill_len tokens: TFLOP/s and the fraction of the GEMM
//      rate;
//   4. per --throughput shape, offline throughput through the engine (all
//      requests at once): output tokens/s, TTFT, ITL, KV usage.
// Text goes to stdout as each phase ends; --json FILE is rewritten after
// each phase, so a run cut short keeps what it measured.
#pragma once

#include "absl/status/statusor.h"
#include "cli/bench_device_flags.h"
#include "worker/engine/engine_types.h"
#include "worker/model_setup.h"

namespace infernum::cli {

// `config` with its KV cache sized vLLM-style when the backend is CUDA and
// neither num_blocks nor kv_cache_memory_bytes is set: worker::
// PlanKvCacheOnDevice (one profile step; mutates the model's workspace)
// with `gpu_memory_utilization`, printing the plan. Otherwise `config`
// unchanged (the throughput bench then sizes the cache for its requests).
absl::StatusOr<worker::EngineConfig> PlanEngineKvCache(
    worker::LoadedModel& loaded, double gpu_memory_utilization,
    worker::EngineConfig config);

// Runs the phases above on `loaded` and prints them. Errors: the backend's,
// the model's or the engine's (the phases done so far are printed and in
// the JSON file), or a JSON file that cannot be written.
absl::Status RunDeviceBench(worker::LoadedModel& loaded,
                            const DeviceBenchOptions& options);

}  // namespace infernum::cli
