// Measures LlamaModel decode throughput on dummy weights at a real shape:
//   bazel run -c opt //models/llama:decode_bench -- \
//     /work/shared/models/configs/llama-100m.json [dtype=bf16] [threads=0]
//     [batch=1] [context=128] [steps=64] [profile=0|1|2]
//     [matmul_precision=f32|bf16] [kv_dtype=act|bf16]
// Each of `batch` sequences gets a `context`-token prefill, then `steps`
// decode steps run with all sequences in one batch; prints tokens/s, the
// min and median step time, a hash of the last step's logits (to check that
// two builds give the same bits) and, with profile=1, each op's wall time
// per step (profile=2: the calling thread's CPU time; use threads=1).
// kv_dtype=bf16 stores the KV cache in bf16 instead of the activation dtype
// (f32), which halves the bytes attention reads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/logging.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/llama/llama_model.h"
#include "models/llama/profiling_backend.h"

namespace infernum::models {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

// Sequence s uses blocks [s * per_seq, (s + 1) * per_seq).
ForwardBatch Step(int batch, int start, int len, int per_seq, int bs) {
  ForwardBatch b;
  b.query_start_loc = {0};
  for (int s = 0; s < batch; ++s) {
    for (int i = 0; i < len; ++i) {
      const int pos = start + i;
      b.token_ids.push_back((pos * 31 + s * 7) % 1000);
      b.positions.push_back(pos);
      b.slot_mapping.push_back((s * per_seq + pos / bs) * bs + pos % bs);
    }
    b.query_start_loc.push_back(b.num_tokens());
    b.seq_lens.push_back(start + len);
    for (int j = 0; j < per_seq; ++j) b.block_tables.push_back(s * per_seq + j);
    b.logits_indices.push_back(b.num_tokens() - 1);
  }
  b.max_blocks_per_seq = per_seq;
  return b;
}

struct Options {
  std::string config_path;
  std::string dtype_name = "bf16";
  int threads = 0, batch = 1, context = 128, steps = 64;
  int profile = 0;  // 1: wall time per op; 2: the caller's CPU time per op.
  kernels::CpuMatmulPrecision precision = kernels::CpuMatmulPrecision::kF32;
  bool bf16_kv = false;
};

bool ParseOptions(int argc, char** argv, Options& o) {
  if (argc < 2) return false;
  o.config_path = argv[1];
  if (argc > 2) o.dtype_name = argv[2];
  if (argc > 3) o.threads = std::atoi(argv[3]);
  if (argc > 4) o.batch = std::atoi(argv[4]);
  if (argc > 5) o.context = std::atoi(argv[5]);
  if (argc > 6) o.steps = std::atoi(argv[6]);
  if (argc > 7) o.profile = std::atoi(argv[7]);
  if (argc > 8 && !kernels::ParseCpuMatmulPrecision(argv[8], &o.precision)) {
    return false;
  }
  if (argc > 9) {
    const std::string kv = argv[9];
    if (kv != "act" && kv != "bf16") return false;
    o.bf16_kv = kv == "bf16";
  }
  return argc <= 10;
}

// FNV-1a of the logits: equal across builds iff they are bit-identical.
uint64_t Hash(const std::vector<float>& logits) {
  uint64_t hash = 1469598103934665603ull;
  for (const float f : logits) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    hash = (hash ^ bits) * 1099511628211ull;
  }
  return hash;
}

// Prints the min and median over steps of each op's time per step.
void PrintOps(std::map<std::string, std::vector<double>>& op_s) {
  double sum_min = 0, sum_median = 0;
  for (auto& [label, v] : op_s) {
    std::sort(v.begin(), v.end());
    sum_min += v.front();
    sum_median += v[v.size() / 2];
    std::printf("  %-24s min %7.3f  median %7.3f ms/step\n", label.c_str(),
                1e3 * v.front(), 1e3 * v[v.size() / 2]);
  }
  std::printf("  %-24s min %7.3f  median %7.3f ms/step\n", "ops total",
              1e3 * sum_min, 1e3 * sum_median);
}

// The prefill, then o.steps decode steps (timed; per op when profiling).
void Run(const Options& o, LlamaModel& model, ProfilingBackend& profiler) {
  const int bs = 16;
  const int per_seq = (o.context + o.steps + bs - 1) / bs;
  KvCacheShape shape = model.MakeKvCacheShape(per_seq * o.batch, bs);
  if (o.bf16_kv) shape.dtype = kernels::DType::kBF16;
  auto cache = KvCache::Create(model.backend(), shape);
  CHECK_OK(cache.status());
  std::vector<float> logits;
  auto t0 = std::chrono::steady_clock::now();
  CHECK_OK(model.Forward(Step(o.batch, 0, o.context, per_seq, bs), *cache,
                         logits, nullptr));
  const double prefill_s = Seconds(t0);
  profiler.Reset();
  std::vector<double> step_s;
  std::map<std::string, std::vector<double>> op_s;  // Per step, per op.
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) {
    const auto s0 = std::chrono::steady_clock::now();
    CHECK_OK(model.Forward(Step(o.batch, o.context + i, 1, per_seq, bs), *cache,
                           logits, nullptr));
    step_s.push_back(Seconds(s0));
    for (const auto& [label, e] : profiler.entries()) {
      op_s[label].push_back(e.seconds);
    }
    profiler.Reset();
  }
  const double decode_s = Seconds(t0);
  std::sort(step_s.begin(), step_s.end());
  std::printf("prefill %d x %d tokens: %.3fs (%.1f tok/s)\n", o.batch,
              o.context, prefill_s, o.batch * o.context / prefill_s);
  std::printf("decode batch %d, %d steps: %.2f ms/step, %.1f tok/s\n", o.batch,
              o.steps, 1e3 * decode_s / o.steps, o.batch * o.steps / decode_s);
  std::printf("step ms: min %.2f, median %.2f\n", 1e3 * step_s.front(),
              1e3 * step_s[step_s.size() / 2]);
  std::printf("last step's logits hash %016llx\n",
              static_cast<unsigned long long>(Hash(logits)));
  if (o.profile != 0) PrintOps(op_s);
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: %s CONFIG.json [dtype] [threads] [batch] [context] "
                 "[steps] [profile=0|1|2] [matmul_precision=f32|bf16] "
                 "[kv_dtype=act|bf16]\n",
                 argv[0]);
    return 2;
  }
  std::ifstream in(o.config_path);
  std::stringstream text;
  text << in.rdbuf();
  auto config = ParseModelConfig(text.str(), "");
  CHECK_OK(config.status());
  const kernels::DType dtype = o.dtype_name == "f32"   ? kernels::DType::kF32
                               : o.dtype_name == "f16" ? kernels::DType::kF16
                                                       : kernels::DType::kBF16;
  kernels::CpuBackendOptions cpu_options;
  cpu_options.num_threads = o.threads;
  cpu_options.matmul_precision = o.precision;
  auto cpu_backend = kernels::CreateCpuBackend(cpu_options);
  ProfilingBackend profiler(*cpu_backend,
                            o.profile == 2 ? ProfilingBackend::Clock::kThreadCpu
                                           : ProfilingBackend::Clock::kWall);
  kernels::Backend& backend =
      o.profile != 0 ? profiler : static_cast<kernels::Backend&>(*cpu_backend);
  const auto t0 = std::chrono::steady_clock::now();
  auto model = LlamaModel::LoadDummy(*config, dtype, 0, backend);
  CHECK_OK(model.status());
  std::printf("backend %s; loaded %.2f GB dummy %s weights in %.2fs\n",
              backend.name().c_str(), (*model)->weights().total_bytes / 1e9,
              o.dtype_name.c_str(), Seconds(t0));
  Run(o, **model, profiler);
  return 0;
}

}  // namespace
}  // namespace infernum::models

int main(int argc, char** argv) { return infernum::models::Main(argc, argv); }
