// Measures LlamaModel decode throughput on dummy weights at a real shape:
//   bazel run -c opt //models/llama:decode_bench -- \
//     /work/shared/models/configs/llama-100m.json [dtype=bf16] [threads=0]
//     [batch=1] [context=128] [steps=64]
// Each of `batch` sequences gets a `context`-token prefill, then `steps`
// decode steps run with all sequences in one batch; prints tokens/s.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/logging.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/llama/llama_model.h"

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

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CONFIG.json [dtype] [threads] [batch] "
                 "[context] [steps]\n",
                 argv[0]);
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  auto config = ParseModelConfig(text.str(), "");
  CHECK_OK(config.status());
  const std::string dtype_name = argc > 2 ? argv[2] : "bf16";
  const kernels::DType dtype = dtype_name == "f32"   ? kernels::DType::kF32
                               : dtype_name == "f16" ? kernels::DType::kF16
                                                     : kernels::DType::kBF16;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
  const int batch = argc > 4 ? std::atoi(argv[4]) : 1;
  const int context = argc > 5 ? std::atoi(argv[5]) : 128;
  const int steps = argc > 6 ? std::atoi(argv[6]) : 64;
  auto backend = kernels::CreateCpuBackend(threads);
  auto t0 = std::chrono::steady_clock::now();
  auto model = LlamaModel::LoadDummy(*config, dtype, 0, *backend);
  CHECK_OK(model.status());
  std::printf("backend %s; loaded %.2f GB dummy %s weights in %.2fs\n",
              backend->name().c_str(), (*model)->weights().total_bytes / 1e9,
              dtype_name.c_str(), Seconds(t0));
  const int bs = 16;
  const int per_seq = (context + steps + bs - 1) / bs;
  auto cache = KvCache::Create(*backend,
                               (*model)->MakeKvCacheShape(per_seq * batch, bs));
  CHECK_OK(cache.status());
  std::vector<float> logits;
  t0 = std::chrono::steady_clock::now();
  CHECK_OK((*model)->Forward(Step(batch, 0, context, per_seq, bs), *cache,
                             logits, nullptr));
  const double prefill_s = Seconds(t0);
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    CHECK_OK((*model)->Forward(Step(batch, context + i, 1, per_seq, bs), *cache,
                               logits, nullptr));
  }
  const double decode_s = Seconds(t0);
  std::printf("prefill %d x %d tokens: %.3fs (%.1f tok/s)\n", batch, context,
              prefill_s, batch * context / prefill_s);
  std::printf("decode batch %d, %d steps: %.2f ms/step, %.1f tok/s\n", batch,
              steps, 1e3 * decode_s / steps, batch * steps / decode_s);
  return 0;
}

}  // namespace
}  // namespace infernum::models

int main(int argc, char** argv) { return infernum::models::Main(argc, argv); }
