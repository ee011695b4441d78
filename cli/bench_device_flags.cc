#include "cli/bench_device_flags.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "cli/engine_flags.h"
#include "cli/model_flags.h"
#include "common/status.h"

namespace infernum::cli {
namespace {

constexpr int64_t kMaxTokens = 1 << 20;

// `--flag` as an int in [lo, hi], else InvalidArgument naming it.
absl::StatusOr<int> IntFlag(const ParsedArgs& a, const char* flag,
                            int64_t fallback, int64_t lo, int64_t hi) {
  const int64_t v = a.GetInt(flag, fallback);
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be in [", lo, ", ", hi, "]"));
  }
  return static_cast<int>(v);
}

absl::Status ReadWorkloadFlags(const ParsedArgs& a, DeviceBenchOptions& o) {
  for (const char* flag : {"input-len", "output-len", "shared-prefix-len"}) {
    if (a.Has(flag)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag,
          " belongs to the throughput mode (--num-requests without "
          "--throughput); with --throughput give IN:OUT pairs"));
    }
  }
  if (a.Has("throughput")) {
    ASSIGN_OR_RETURN(o.throughput,
                     ParseThroughputShapes(a.GetString("throughput", "")));
  }
  ASSIGN_OR_RETURN(o.num_requests, IntFlag(a, "num-requests", 256, 1, 100000));
  o.ignore_eos = a.GetBool("ignore-eos", true);
  o.run_sequential = a.GetBool("sequential", false);
  o.seed = static_cast<uint64_t>(a.GetInt("seed", 0));
  ASSIGN_OR_RETURN(o.engine, EngineConfigFromFlags(a));
  o.gpu_memory_utilization = a.GetFloat("gpu-memory-utilization",
                                        worker::kDefaultGpuMemoryUtilization);
  if (!(o.gpu_memory_utilization > 0 && o.gpu_memory_utilization <= 1)) {
    return absl::InvalidArgumentError(
        "--gpu-memory-utilization must be in (0, 1]");
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<FlagSpec> BenchFlagSpecs() {
  std::vector<FlagSpec> specs = ModelFlagSpecs();
  specs.push_back({"prompt-len", FlagType::kInt,
                   "batch-1 decode: prompt tokens before the decode steps "
                   "(default 128)"});
  specs.push_back({"decode-len", FlagType::kInt, "decode steps (default 32)"});
  specs.push_back({"prefill-len", FlagType::kInt,
                   "prefill benchmark tokens (default: 2048 on cuda, "
                   "--prompt-len on cpu, where the decode run's prefill is "
                   "the measurement)"});
  specs.push_back(
      {"reps", FlagType::kInt, "repetitions, best kept (default 3)"});
  specs.push_back({"copy-mib", FlagType::kInt,
                   "copy size for the bandwidth probes (default 1024)"});
  specs.push_back({"gemm-shape", FlagType::kString,
                   "MxNxK of the GEMM peak probe (default 8192x8192x8192 on "
                   "cuda, 256x2048x2048 on cpu)"});
  specs.push_back({"throughput", FlagType::kString,
                   "IN:OUT[,IN:OUT...]: after the batch-1 runs, offline "
                   "throughput of --num-requests requests per shape, all "
                   "submitted at once (e.g. 1024:128,128:128)"});
  specs.push_back({"num-requests", FlagType::kInt,
                   "requests through the engine: per --throughput shape "
                   "(default 256); alone, the throughput mode (default 32, "
                   "at once and one at a time)"});
  specs.push_back({"input-len", FlagType::kInt,
                   "throughput mode: prompt tokens (default 128)"});
  specs.push_back({"output-len", FlagType::kInt,
                   "throughput mode: output tokens (default 64)"});
  specs.push_back({"ignore-eos", FlagType::kBool,
                   "never stop on EOS (default: on with --throughput, off in "
                   "the throughput mode)"});
  specs.push_back(
      {"shared-prefix-len", FlagType::kInt,
       "throughput mode: requests share a prefix of P tokens (before their "
       "--input-len own tokens); compares prefix caching on vs off"});
  specs.push_back({"sequential", FlagType::kBool,
                   "also run the requests one at a time (default: on in the "
                   "throughput mode, off with --throughput; --no-sequential)"});
  specs.push_back({"seed", FlagType::kInt, "prompt token seed (default 0)"});
  specs.push_back(
      {"gpu-memory-utilization", FlagType::kFloat,
       "cuda: fraction of the device memory left after the weights and the "
       "largest step that the engine's KV cache takes, when neither "
       "--kv-cache-memory nor --num-kv-blocks is given (default 0.9)"});
  specs.push_back({"json", FlagType::kString,
                   "also write the results to this JSON file (rewritten "
                   "after each phase)"});
  specs.insert(specs.end(), EngineFlagSpecs().begin(), EngineFlagSpecs().end());
  specs.push_back({"help", FlagType::kBool, "show this help"});
  return specs;
}

absl::StatusOr<DeviceBenchOptions> DeviceBenchOptionsFromFlags(
    const ParsedArgs& a) {
  DeviceBenchOptions o;
  ASSIGN_OR_RETURN(o.prompt_len, IntFlag(a, "prompt-len", 128, 1, kMaxTokens));
  ASSIGN_OR_RETURN(o.decode_len, IntFlag(a, "decode-len", 32, 1, kMaxTokens));
  const bool cuda = a.GetString("backend", "cpu") == "cuda";
  ASSIGN_OR_RETURN(
      o.prefill_len,
      IntFlag(a, "prefill-len", cuda ? 2048 : o.prompt_len, 1, kMaxTokens));
  ASSIGN_OR_RETURN(o.reps, IntFlag(a, "reps", 3, 1, 1000));
  ASSIGN_OR_RETURN(const int copy_mib, IntFlag(a, "copy-mib", 1024, 1, 65536));
  o.copy_bytes = static_cast<size_t>(copy_mib) << 20;
  if (a.Has("gemm-shape")) {
    ASSIGN_OR_RETURN(o.gemm_shape,
                     ParseGemmShape(a.GetString("gemm-shape", "")));
  }
  RETURN_IF_ERROR(ReadWorkloadFlags(a, o));
  o.json_path = a.GetString("json", "");
  if (a.Has("json")) {
    std::ofstream f(o.json_path, std::ios::trunc);
    if (o.json_path.empty() || !f.good()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--json: cannot write '", o.json_path, "'"));
    }
  }
  return o;
}

absl::Status CheckDeviceBenchFits(const DeviceBenchOptions& o,
                                  const models::ModelConfig& config) {
  const int64_t context = config.max_position_embeddings;
  if (int64_t{o.prompt_len} + o.decode_len > context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--prompt-len + --decode-len exceeds the model's context (", context,
        " tokens)"));
  }
  if (int64_t{o.prefill_len} + 1 > context) {
    return absl::InvalidArgumentError(
        absl::StrCat("--prefill-len must be below the model's context (",
                     context, " tokens)"));
  }
  if (o.engine.max_model_len > context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-model-len exceeds the model's context (", context, " tokens)"));
  }
  const int64_t limit =
      o.engine.max_model_len > 0 ? o.engine.max_model_len : context;
  for (const ThroughputShape& s : o.throughput) {
    if (int64_t{s.input_len} + s.output_len > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("--throughput ", s.input_len, ":", s.output_len,
                       " exceeds the ", limit, "-token context"));
    }
  }
  return absl::OkStatus();
}

}  // namespace infernum::cli
