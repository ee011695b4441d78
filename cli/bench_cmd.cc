// infernum bench: on any backend (--backend cpu|cuda), in one run, the
// device's own copy bandwidth and GEMM rate, batch-1 decode against the
// bandwidth roofline, a prefill of --prefill-len tokens against the GEMM
// rate and, with --throughput IN:OUT,..., offline throughput through the
// engine (bench_device_run.h). With --num-requests alone: the engine
// throughput comparisons of bench_throughput.h (batching vs one at a time,
// or, with --shared-prefix-len P, prefix caching on vs off).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/bench_device_run.h"
#include "cli/bench_serve.h"
#include "cli/bench_throughput.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/model_flags.h"
#include "worker/model_setup.h"

namespace infernum::cli {
namespace {

// Loads the model; "no CUDA device" when --backend cuda finds none.
absl::StatusOr<worker::LoadedModel> LoadForBench(const ParsedArgs& a) {
  auto loaded = LoadModelFromFlags(a, /*need_tokenizer=*/false);
  if (!loaded.ok() && absl::IsUnavailable(loaded.status()) &&
      a.GetString("backend", "cpu") == "cuda") {
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device for --backend cuda (", loaded.status().message(), ")"));
  }
  return loaded;
}

// Offline throughput through the engine (--num-requests without
// --throughput).
int ThroughputMain(const ParsedArgs& a) {
  ThroughputOptions o;
  const int64_t n = a.GetInt("num-requests", 32),
                in = a.GetInt("input-len", 128),
                out = a.GetInt("output-len", 64),
                prefix = a.GetInt("shared-prefix-len", 0);
  constexpr int64_t kMax = 1 << 20;
  if (n < 1 || n > 100000 || in < 0 || in > kMax || out < 1 || out > kMax ||
      prefix < 0 || prefix > kMax || in + prefix < 1) {
    return UsageError(
        "bench",
        "--num-requests, --output-len must be positive, --input-len and "
        "--shared-prefix-len >= 0 (with a non-empty prompt)");
  }
  if (a.Has("json")) {
    return UsageError("bench",
                      "--json needs the device benchmark (use --throughput "
                      "IN:OUT instead of --input-len/--output-len)");
  }
  o.num_requests = static_cast<int>(n);
  o.input_len = static_cast<int>(in);
  o.output_len = static_cast<int>(out);
  o.shared_prefix_len = static_cast<int>(prefix);
  o.ignore_eos = a.GetBool("ignore-eos", false);
  o.run_sequential = a.GetBool("sequential", true);
  o.seed = static_cast<uint64_t>(a.GetInt("seed", 0));
  auto config = EngineConfigFromFlags(a);
  if (!config.ok())
    return UsageError("bench", std::string(config.status().message()));
  const double util = a.GetFloat("gpu-memory-utilization",
                                 worker::kDefaultGpuMemoryUtilization);
  if (!(util > 0 && util <= 1))
    return UsageError("bench", "--gpu-memory-utilization must be in (0, 1]");
  auto loaded = LoadForBench(a);
  if (!loaded.ok())
    return UsageError("bench", std::string(loaded.status().message()));
  const int64_t context = config->max_model_len > 0
                              ? config->max_model_len
                              : loaded->config.max_position_embeddings;
  if (prefix + in + out > context) {
    return UsageError(
        "bench",
        "shared-prefix-len + input-len + output-len exceeds the context");
  }
  auto planned = PlanEngineKvCache(*loaded, util, *config);
  if (!planned.ok()) {
    std::fprintf(stderr, "infernum bench: %s\n",
                 std::string(planned.status().message()).c_str());
    return 1;
  }
  o.engine = *planned;
  o.engine.cuda_graphs = loaded->cuda_graphs;
  return RunThroughputBench(*loaded, o);
}

// The device benchmark (every invocation without --num-requests alone).
int DeviceMain(const ParsedArgs& a) {
  auto o = DeviceBenchOptionsFromFlags(a);
  if (!o.ok()) return UsageError("bench", std::string(o.status().message()));
  auto loaded = LoadForBench(a);
  if (!loaded.ok())
    return UsageError("bench", std::string(loaded.status().message()));
  if (absl::Status st = CheckDeviceBenchFits(*o, loaded->config); !st.ok())
    return UsageError("bench", std::string(st.message()));
  if (absl::Status st = RunDeviceBench(*loaded, *o); !st.ok()) {
    std::fprintf(stderr, "infernum bench: %s\n",
                 std::string(st.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int BenchMain(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "serve") {
    return BenchServeMain({args.begin() + 1, args.end()});
  }
  const std::vector<FlagSpec> specs = BenchFlagSpecs();
  auto a = ParseArgs(args, specs);
  if (!a.ok()) return UsageError("bench", std::string(a.status().message()));
  if (a->GetBool("help", false)) {
    std::printf(
        "usage: infernum bench (--model DIR | --config FILE --load-format "
        "dummy) [--backend cpu|cuda]\n%s",
        FlagHelp(specs).c_str());
    return 0;
  }
  if (a->Has("num-requests") && !a->Has("throughput")) {
    return ThroughputMain(*a);
  }
  return DeviceMain(*a);
}

}  // namespace infernum::cli
