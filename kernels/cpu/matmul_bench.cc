// Matmul throughput on the CPU backend (not a test; run by hand):
//   BZ=cpu tools/bazelw run -c opt //kernels/cpu:matmul_bench -- [threads]
//     [all|gemm|attention|decode|decode_attention|prefill_attention]
//     [matmul_precision=f32|bf16]
// Prints the large-copy memory bandwidth, bf16 GEMV bandwidth against it,
// and GEMM GFLOP/s for several batch sizes. Weights rotate through enough
// copies to exceed the last-level cache, as a model's layers do. `decode`
// times the matmuls and attention of one 32-sequence llama-100m decode step;
// decode_attention / prefill_attention repeat one attention shape (for perf).
// With ATTENTION_IN_CACHE set, attention reuses one copy of the KV cache
// (its compute cost without the memory traffic); ATTENTION_KV_DTYPE=bf16
// runs decode_attention / prefill_attention on a bf16 cache.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"

namespace infernum::kernels {
namespace {

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Timing {
  double wall;  // Best wall seconds per call (the machine may be shared).
  double cpu;   // Mean process CPU seconds per call (includes pool spinning).
};

// Times repeated calls of fn for ~min_seconds.
template <class Fn>
Timing TimeCalls(Fn fn, double min_seconds = 1.0) {
  fn();  // Warm up.
  double best = 1e30;
  const double start = Now(), cpu_start = CpuNow();
  int calls = 0;
  while (Now() - start < min_seconds || calls < 3) {
    const double t0 = Now();
    fn();
    best = std::min(best, Now() - t0);
    ++calls;
  }
  return {best, (CpuNow() - cpu_start) / calls};
}

DeviceBuffer MustAllocate(Backend& backend, size_t bytes) {
  auto buffer = backend.Allocate(bytes);
  if (!buffer.ok()) {
    std::fprintf(stderr, "allocate %zu: %s\n", bytes,
                 buffer.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*buffer);
}

// 1 GiB memcpy split across `threads` threads; returns GB/s copied.
double CopyBandwidth(Backend& backend, int threads) {
  constexpr size_t kBytes = size_t{1} << 30;
  DeviceBuffer src = MustAllocate(backend, kBytes),
               dst = MustAllocate(backend, kBytes);
  std::memset(src.data(), 1, kBytes);
  std::memset(dst.data(), 0, kBytes);
  ThreadPool pool(threads);
  const double t =
      TimeCalls(
          [&] {
            pool.ParallelFor(threads, [&](int64_t b, int64_t e) {
              const size_t begin = kBytes * b / threads,
                           end = kBytes * e / threads;
              std::memcpy(static_cast<char*>(dst.data()) + begin,
                          static_cast<const char*>(src.data()) + begin,
                          end - begin);
            });
          },
          2.0)
          .wall;
  return kBytes / t / 1e9;
}

struct Weights {
  std::vector<DeviceBuffer> copies;
  int64_t n, k;
};

Weights MakeBf16Weights(Backend& backend, int64_t n, int64_t k,
                        size_t min_total_bytes) {
  Weights w{{}, n, k};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  const size_t bytes = n * k * 2;
  const size_t copies =
      std::max<size_t>(1, (min_total_bytes + bytes - 1) / bytes);
  for (size_t c = 0; c < copies; ++c) {
    w.copies.push_back(MustAllocate(backend, bytes));
    auto* p = static_cast<uint16_t*>(w.copies.back().data());
    for (int64_t i = 0; i < n * k; ++i) p[i] = F32ToBf16(dist(rng));
  }
  return w;
}

// Time per matmul of m rows; each call uses the next weight copy, so the
// weights come from memory, not cache.
Timing TimeMatmul(Backend& backend, const Weights& w, int64_t m) {
  DeviceBuffer x = MustAllocate(backend, m * w.k * 4),
               out = MustAllocate(backend, m * w.n * 4);
  std::fill_n(static_cast<float*>(x.data()), m * w.k, 0.5f);
  size_t next = 0;
  return TimeCalls([&] {
    MatmulParams p{Tensor(x.data(), DType::kF32, {m, w.k}),
                   Tensor(w.copies[next].data(), DType::kBF16, {w.n, w.k}),
                   Tensor(out.data(), DType::kF32, {m, w.n})};
    next = (next + 1) % w.copies.size();
    if (!backend.Matmul(p, backend.default_stream()).ok()) std::exit(1);
  });
}

struct AttentionShape {
  int num_seqs, query_len, context;  // query_len 1 = decode.
  int nh, nkv, hd;
  DType cache_dtype;
};

// Fills `count` elements of a f32 or bf16 buffer with `value`.
void Fill(void* data, DType dtype, int64_t count, float value) {
  if (dtype == DType::kBF16) {
    std::fill_n(static_cast<uint16_t*>(data), count, F32ToBf16(value));
  } else {
    std::fill_n(static_cast<float*>(data), count, value);
  }
}

// PagedAttention over num_seqs sequences of `context` tokens each.
void BenchAttention(Backend& backend, const AttentionShape& a) {
  constexpr int kBlock = 16;
  const int blocks_per_seq = (a.context + kBlock - 1) / kBlock;
  const int64_t n = int64_t{a.num_seqs} * a.query_len;
  const int64_t seq_blocks = int64_t{a.num_seqs} * blocks_per_seq;
  // Calls rotate through copies of the cache that together exceed the
  // last-level cache, as a model's layers do.
  const int64_t block_bytes = kBlock * a.nkv * a.hd * DTypeSize(a.cache_dtype);
  const int64_t copies =
      std::getenv("ATTENTION_IN_CACHE") != nullptr
          ? 1
          : std::max<int64_t>(
                1, (int64_t{256} << 20) / (2 * seq_blocks * block_bytes));
  const int64_t num_blocks = seq_blocks * copies;
  const int64_t cache_elems = num_blocks * kBlock * a.nkv * a.hd;
  DeviceBuffer q = MustAllocate(backend, n * a.nh * a.hd * 4);
  DeviceBuffer out = MustAllocate(backend, n * a.nh * a.hd * 4);
  DeviceBuffer kc =
      MustAllocate(backend, cache_elems * DTypeSize(a.cache_dtype));
  DeviceBuffer vc =
      MustAllocate(backend, cache_elems * DTypeSize(a.cache_dtype));
  Fill(q.data(), DType::kF32, n * a.nh * a.hd, 0.1f);
  Fill(kc.data(), a.cache_dtype, cache_elems, 0.2f);
  Fill(vc.data(), a.cache_dtype, cache_elems, 0.3f);
  // Copy c's tables; blocks scattered as an engine's free list leaves them.
  std::vector<std::vector<int32_t>> tables(copies);
  std::vector<int32_t> order(num_blocks);
  for (int64_t b = 0; b < num_blocks; ++b) order[b] = static_cast<int32_t>(b);
  std::shuffle(order.begin(), order.end(), std::mt19937(1));
  for (int64_t c = 0; c < copies; ++c) {
    tables[c].assign(order.begin() + c * seq_blocks,
                     order.begin() + (c + 1) * seq_blocks);
  }
  std::vector<int32_t> qsl(a.num_seqs + 1);
  std::vector<int32_t> lens(a.num_seqs, a.context);
  for (int s = 0; s <= a.num_seqs; ++s) qsl[s] = s * a.query_len;
  PagedAttentionParams p;
  p.q = Tensor(q.data(), DType::kF32, {n, a.nh, a.hd});
  p.k_cache =
      Tensor(kc.data(), a.cache_dtype, {num_blocks, kBlock, a.nkv, a.hd});
  p.v_cache =
      Tensor(vc.data(), a.cache_dtype, {num_blocks, kBlock, a.nkv, a.hd});

  p.query_start_loc = Tensor(qsl.data(), DType::kI32, {a.num_seqs + 1});
  p.seq_lens = Tensor(lens.data(), DType::kI32, {a.num_seqs});
  p.out = Tensor(out.data(), DType::kF32, {n, a.nh, a.hd});
  p.scale = 0.125f;
  p.num_seqs = a.num_seqs;
  int64_t next = 0;
  const Timing t = TimeCalls([&] {
    p.block_tables =
        Tensor(tables[next].data(), DType::kI32, {a.num_seqs, blocks_per_seq});
    next = (next + 1) % copies;
    if (!backend.PagedAttention(p, backend.default_stream()).ok()) std::exit(1);
  });
  // Causal: query row r of a sequence sees context - query_len + r + 1 keys.
  double keys = 0;
  for (int r = 0; r < a.query_len; ++r) keys += a.context - a.query_len + r + 1;
  const double flop = 4.0 * a.num_seqs * keys * a.nh * a.hd;
  std::printf(
      "PagedAttention %d seqs x %d query rows, context %d, %d/%d heads, hd %d, "
      "%s cache: %8.1f us  %6.1f GFLOP/s  (%.1f GFLOP per CPU-second)\n",
      a.num_seqs, a.query_len, a.context, a.nh, a.nkv, a.hd,
      DTypeName(a.cache_dtype), t.wall * 1e6, flop / t.wall / 1e9,
      flop / t.cpu / 1e9);
}

void BenchAttentions(Backend& backend) {
  for (DType cache : {DType::kF32, DType::kBF16}) {
    BenchAttention(backend, {1, 1, 2048, 32, 8, 64, cache});
    BenchAttention(backend, {32, 1, 512, 12, 4, 64, cache});
    BenchAttention(backend, {32, 1, 160, 12, 4, 64, cache});
    BenchAttention(backend, {1, 512, 512, 32, 8, 64, cache});
  }
}

// The matmuls and attention of one 32-sequence decode step of llama-100m
// (hidden 768, 12 layers, 12/4 heads, inter 2048, vocab 32000) at context
// 160, each timed alone, and their sum for the whole step.
void BenchDecodeStep(Backend& backend) {
  constexpr int64_t kRotateBytes = int64_t{256} << 20;
  struct Shape {
    int64_t n, k, per_step;
  };
  const Shape shapes[] = {{256, 768, 24},  {768, 768, 24},  {4096, 768, 12},
                          {768, 2048, 12}, {32000, 768, 1}, {1280, 768, 0}};
  double step = 0;
  for (const Shape& s : shapes) {
    const Weights w = MakeBf16Weights(backend, s.n, s.k, kRotateBytes);
    const Timing t = TimeMatmul(backend, w, 32);
    const double flop = 2.0 * 32 * s.n * s.k;
    std::printf("Matmul m=32 %5lld x %4lld: %8.1f us %6.1f GFLOP/s  x%lld\n",
                static_cast<long long>(s.n), static_cast<long long>(s.k),
                t.wall * 1e6, flop / t.wall / 1e9,
                static_cast<long long>(s.per_step));
    step += t.wall * s.per_step;
  }
  std::printf("matmuls per step: %.2f ms\n", step * 1e3);
  for (DType cache : {DType::kF32, DType::kBF16}) {
    BenchAttention(backend, {32, 1, 160, 12, 4, 64, cache});
  }
}

int Main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  const std::string only = argc > 2 ? argv[2] : "all";
  CpuBackendOptions options;
  options.num_threads = threads;
  if (argc > 3 &&
      !ParseCpuMatmulPrecision(argv[3], &options.matmul_precision)) {
    std::fprintf(stderr, "bad matmul precision %s\n", argv[3]);
    return 2;
  }
  auto backend = CreateCpuBackend(options);
  std::printf("backend: %s\n", backend->name().c_str());
  if (only == "decode") {
    BenchDecodeStep(*backend);
    return 0;
  }
  if (only == "decode_attention" || only == "prefill_attention") {
    // For profiling one attention shape.
    const bool decode = only == "decode_attention";
    const char* kv = std::getenv("ATTENTION_KV_DTYPE");
    const DType cache =
        kv != nullptr && std::string(kv) == "bf16" ? DType::kBF16 : DType::kF32;
    for (int i = 0; i < 4; ++i) {
      BenchAttention(*backend,
                     decode ? AttentionShape{32, 1, 160, 12, 4, 64, cache}
                            : AttentionShape{1, 512, 512, 32, 8, 64, cache});
    }
    return 0;
  }
  if (only == "attention") {
    BenchAttentions(*backend);
    return 0;
  }
  const double copy1 = CopyBandwidth(*backend, 1);
  const int pool_threads =
      threads > 0 ? threads
                  : static_cast<int>(std::thread::hardware_concurrency());
  const double copy = CopyBandwidth(*backend, pool_threads);
  std::printf(
      "memcpy 1 GiB: %.1f GB/s copied with 1 thread, %.1f GB/s with %d threads "
      "(%.1f GB/s read+write)\n",
      copy1, copy, pool_threads, 2 * copy);

  constexpr size_t kRotateBytes = size_t{512} << 20;  // Beyond any LLC.
  const Weights gemv = MakeBf16Weights(*backend, 8192, 2048, kRotateBytes);
  const double t_gemv = TimeMatmul(*backend, gemv, 1).wall;
  const double gemv_gbs = 8192.0 * 2048 * 2 / t_gemv / 1e9;
  std::printf(
      "GEMV bf16 [1 x 2048] x [8192 x 2048]^T: %.1f us, %.1f GB/s weights = "
      "%.2f x "
      "memcpy copy rate, %.2f x memcpy read+write\n",
      t_gemv * 1e6, gemv_gbs, gemv_gbs / copy, gemv_gbs / (2 * copy));

  const Weights gemm = MakeBf16Weights(*backend, 2048, 2048, kRotateBytes);
  double t1 = 0;
  for (int64_t m : {1, 4, 8, 16, 32, 64, 128, 256, 512}) {
    const Timing timing = TimeMatmul(*backend, gemm, m);
    const double t = timing.wall;
    if (m == 1) t1 = t;
    const double flop = 2.0 * m * 2048 * 2048;
    std::printf(
        "GEMM bf16 m=%-3lld [%lld x 2048] x [2048 x 2048]^T: %8.1f us  %6.1f "
        "GFLOP/s  "
        "%5.1f x the rows/s of m=1  (%.1f GFLOP per CPU-second)\n",
        static_cast<long long>(m), static_cast<long long>(m), t * 1e6,
        flop / t / 1e9, m * t1 / t, flop / timing.cpu / 1e9);
  }
  if (only == "all") BenchAttentions(*backend);
  return 0;
}

}  // namespace
}  // namespace infernum::kernels

int main(int argc, char** argv) { return infernum::kernels::Main(argc, argv); }
