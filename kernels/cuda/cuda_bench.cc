// Kernel micro-benchmark for the CUDA backend (not a test):
//   bazel run -c opt //kernels/cuda:cuda_bench [-- --quick]
// Prints device copy bandwidth, bf16 GEMM peak, and each kernel's time as a
// fraction of the memory bandwidth (memory-bound kernels) or of the nominal
// bf16 tensor peak (GEMM, prefill attention). Shapes are Llama-3-8B's
// (h 4096, 32 heads / 8 KV heads of 128, FFN 14336, vocab 128256).
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_backend.h"

namespace infernum::kernels {
namespace {

constexpr int kH = 4096, kHeads = 32, kKvHeads = 8, kHd = 128, kFfn = 14336,
              kVocab = 128256;
constexpr int kBlock = 16;

void Must(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  Must(v.status(), what);
  return std::move(*v);
}

class Bench {
 public:
  explicit Bench(CudaBackend& b, bool quick) : b_(b), quick_(quick) {
    start_ = Must(b_.CreateEvent(), "event");
    end_ = Must(b_.CreateEvent(), "event");
  }

  // Mean milliseconds of fn over the timed iterations (after warm-up).
  double TimeMs(const std::function<absl::Status()>& fn) {
    const int iters = quick_ ? 3 : 20;
    for (int i = 0; i < 2; ++i) Must(fn(), "warm-up");
    Must(b_.RecordEvent(start_.get(), s()), "record");
    for (int i = 0; i < iters; ++i) Must(fn(), "timed run");
    Must(b_.RecordEvent(end_.get(), s()), "record");
    Must(b_.SynchronizeEvent(end_.get()), "sync");
    return Must(b_.ElapsedMs(start_.get(), end_.get()), "elapsed") / iters;
  }

  // A device tensor of random small values (f32 generated, stored as dtype).
  Tensor Rand(DType dtype, std::initializer_list<int64_t> dims, float lo = -1,
              float hi = 1) {
    Tensor shape(nullptr, dtype, dims);
    buffers_.push_back(Must(b_.Allocate(shape.nbytes()), "alloc"));
    Tensor t(buffers_.back().data(), dtype, dims);
    // Host staging is reused across calls: first-touch of fresh pages is
    // slow on some VMs (tens of GB over the whole run otherwise).
    f32_.resize(t.numel());
    uint32_t x = 12345;
    for (float& v : f32_) {
      x = x * 1664525u + 1013904223u;
      v = lo + (hi - lo) * static_cast<float>(x >> 8) / 16777216.0f;
    }
    const void* src = f32_.data();
    if (dtype == DType::kBF16) {
      half_.resize(f32_.size());
      for (size_t i = 0; i < f32_.size(); ++i) half_[i] = F32ToBf16(f32_[i]);
      src = half_.data();
    }
    Must(b_.CopyToDevice(t.data, src, t.nbytes(), s()), "upload");
    Must(b_.Synchronize(s()), "sync");  // Before the staging is reused.
    return t;
  }
  Tensor Ints(const std::vector<int32_t>& v,
              std::initializer_list<int64_t> dims) {
    buffers_.push_back(Must(b_.Allocate(v.size() * 4), "alloc"));
    Tensor t(buffers_.back().data(), DType::kI32, dims);
    Must(b_.CopyToDevice(t.data, v.data(), v.size() * 4, s()), "upload");
    Must(b_.Synchronize(s()), "sync");
    return t;
  }
  void Release() {
    Must(b_.Synchronize(s()), "sync");
    buffers_.clear();
  }

  Stream* s() { return b_.default_stream(); }
  CudaBackend& b() { return b_; }
  bool quick() const { return quick_; }

 private:
  CudaBackend& b_;
  bool quick_;
  std::unique_ptr<Event> start_, end_;
  std::vector<DeviceBuffer> buffers_;
  std::vector<float> f32_;      // Rand's host staging (reused).
  std::vector<uint16_t> half_;  // Its bf16 copy.
};

struct Peaks {
  double bandwidth;   // Bytes/s from the memory clock and bus width.
  double bf16_flops;  // Nominal dense bf16 tensor FLOP/s (0 = unknown).
};

Peaks DevicePeaks(int device) {
  int mem_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, device);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  const std::string name = prop.name;
  double flops = 0;
  if (name.find("H100") != std::string::npos ||
      name.find("H200") != std::string::npos) {
    flops = name.find("PCIe") != std::string::npos ? 756e12 : 989e12;
  } else if (name.find("A100") != std::string::npos) {
    flops = 312e12;
  }
  return {2.0 * mem_khz * 1e3 * bus_bits / 8.0, flops};
}

void Row(const char* what, double ms, double bytes, double flops,
         const Peaks& p) {
  std::printf("%-44s %9.3f us", what, ms * 1e3);
  if (bytes > 0) {
    const double bw = bytes / (ms * 1e-3);
    std::printf("  %7.1f GB/s (%4.1f%% of peak BW)", bw / 1e9,
                100 * bw / p.bandwidth);
  }
  if (flops > 0) {
    const double f = flops / (ms * 1e-3);
    std::printf("  %7.1f TFLOP/s", f / 1e12);
    if (p.bf16_flops > 0)
      std::printf(" (%4.1f%% of bf16 peak)", 100 * f / p.bf16_flops);
  }
  std::printf("\n");
}

void CopyAndGemmPeaks(Bench& bench, const Peaks& p) {
  const size_t bytes = size_t{1} << 30;
  auto a = Must(bench.b().Allocate(bytes), "alloc");
  auto c = Must(bench.b().Allocate(bytes), "alloc");
  const double ms = bench.TimeMs([&] {
    return bench.b().CopyOnDevice(c.data(), a.data(), bytes, bench.s());
  });
  Row("D2D copy 1 GiB (read + write)", ms, 2.0 * bytes, 0, p);
  const int64_t n = bench.quick() ? 4096 : 8192;
  MatmulParams mm{bench.Rand(DType::kBF16, {n, n}),
                  bench.Rand(DType::kBF16, {n, n}),
                  bench.Rand(DType::kBF16, {n, n})};
  const double gemm =
      bench.TimeMs([&] { return bench.b().Matmul(mm, bench.s()); });
  Row(n == 8192 ? "GEMM bf16 8192^3 (cuBLASLt)" : "GEMM bf16 4096^3 (cuBLASLt)",
      gemm, 0, 2.0 * n * n * n, p);
  bench.Release();
}

void Gemv(Bench& bench, const Peaks& p) {
  struct Shape {
    const char* name;
    int64_t n, k;
  } shapes[] = {{"qkv 4096->6144", 6144, kH},
                {"o 4096->4096", kH, kH},
                {"gate_up 4096->28672", 2 * kFfn, kH},
                {"down 14336->4096", kH, kFfn},
                {"lm_head 4096->128256", kVocab, kH}};
  for (int64_t m : {1, 8, 64}) {
    for (const Shape& s : shapes) {
      MatmulParams mm{bench.Rand(DType::kBF16, {m, s.k}),
                      bench.Rand(DType::kBF16, {s.n, s.k}),
                      bench.Rand(DType::kBF16, {m, s.n})};
      const double ms =
          bench.TimeMs([&] { return bench.b().Matmul(mm, bench.s()); });
      const std::string what = "GEMV m=" + std::to_string(m) + " " + s.name;
      Row(what.c_str(), ms, 2.0 * s.n * s.k, 2.0 * m * s.n * s.k, p);
      bench.Release();
    }
  }
}

// Decode attention over batch sequences of `ctx` tokens each (contiguous
// blocks per sequence), or one prefill of `ctx` tokens when prefill is set.
void Attention(Bench& bench, const Peaks& p, int batch, int ctx, bool prefill) {
  const int blocks_per_seq = (ctx + kBlock - 1) / kBlock;
  const int64_t num_blocks = static_cast<int64_t>(blocks_per_seq) * batch;
  const int64_t rows = prefill ? ctx : batch;
  std::vector<int32_t> tables(num_blocks), qsl = {0}, lens;
  for (int64_t i = 0; i < num_blocks; ++i) tables[i] = static_cast<int32_t>(i);
  for (int s = 0; s < batch; ++s) {
    qsl.push_back(qsl.back() + (prefill ? ctx : 1));
    lens.push_back(ctx);
  }
  PagedAttentionParams a{
      bench.Rand(DType::kBF16, {rows, kHeads, kHd}),
      bench.Rand(DType::kBF16, {num_blocks, kBlock, kKvHeads, kHd}),
      bench.Rand(DType::kBF16, {num_blocks, kBlock, kKvHeads, kHd}),
      bench.Ints(tables, {batch, blocks_per_seq}),
      bench.Ints(qsl, {batch + 1}),
      bench.Ints(lens, {batch}),
      bench.Rand(DType::kBF16, {rows, kHeads, kHd}),
      1.0f / std::sqrt(static_cast<float>(kHd)),
      batch,
      prefill ? ctx : 1,
      ctx};
  const double ms =
      bench.TimeMs([&] { return bench.b().PagedAttention(a, bench.s()); });
  const double kv_bytes = 2.0 * batch * ctx * kKvHeads * kHd * 2;
  char what[96];
  if (prefill) {
    std::snprintf(what, sizeof(what), "prefill flash attention L=%d", ctx);
    Row(what, ms, 0, 2.0 * 2 * kHeads * kHd * double(ctx) * ctx / 2, p);
  } else {
    std::snprintf(what, sizeof(what), "decode attention batch=%d ctx=%d", batch,
                  ctx);
    Row(what, ms, kv_bytes, 0, p);
  }
  bench.Release();
}

void Elementwise(Bench& bench, const Peaks& p) {
  for (int64_t n : {1, 256}) {
    const std::string sfx = " n=" + std::to_string(n);
    RmsNormParams norm{
        bench.Rand(DType::kBF16, {n, kH}), bench.Rand(DType::kBF16, {n, kH}),
        bench.Rand(DType::kBF16, {kH}), bench.Rand(DType::kBF16, {n, kH})};
    Row(("rmsnorm+residual" + sfx).c_str(),
        bench.TimeMs([&] { return bench.b().RmsNorm(norm, bench.s()); }),
        8.0 * n * kH, 0, p);
    SiluMulParams silu{bench.Rand(DType::kBF16, {n, 2 * kFfn}),
                       bench.Rand(DType::kBF16, {n, kFfn})};
    Row(("silu_mul" + sfx).c_str(),
        bench.TimeMs([&] { return bench.b().SiluMul(silu, bench.s()); }),
        6.0 * n * kFfn, 0, p);
    std::vector<int32_t> pos(n), slots(n);
    for (int64_t i = 0; i < n; ++i)
      pos[i] = slots[i] = static_cast<int32_t>(i * 7);
    RopeWriteKvCacheParams rope{
        bench.Rand(DType::kBF16, {n, kHeads, kHd}),
        bench.Rand(DType::kBF16, {n, kKvHeads, kHd}),
        bench.Rand(DType::kBF16, {n, kKvHeads, kHd}),
        bench.Ints(pos, {n}),
        bench.Rand(DType::kF32, {kHd / 2}, 0, 0.5f),
        bench.Rand(DType::kBF16, {2048, kBlock, kKvHeads, kHd}),
        bench.Rand(DType::kBF16, {2048, kBlock, kKvHeads, kHd}),
        bench.Ints(slots, {n})};
    Row(("rope+kv write (fused)" + sfx).c_str(), bench.TimeMs([&] {
      return bench.b().RopeWriteKvCache(rope, bench.s());
    }),
        2.0 * n * (2 * kHeads + 4 * kKvHeads) * kHd, 0, p);
    bench.Release();
  }
  const int64_t rows = 64;
  Tensor logits = bench.Rand(DType::kF32, {rows, kVocab}, -10, 10);
  Tensor ids = bench.Ints(std::vector<int32_t>(rows, 0), {rows});
  Row("argmax 64 x 128256 f32", bench.TimeMs([&] {
    return bench.b().Argmax({logits, ids}, bench.s());
  }),
      4.0 * rows * kVocab, 0, p);
  std::vector<GpuSamplingRow> params(rows);
  for (int64_t i = 0; i < rows; ++i) {
    params[i].top_k = 50;
    params[i].top_p = 0.9f;
    params[i].counter[0] = static_cast<uint32_t>(i);
  }
  const double sample_ms = bench.TimeMs([&] {
    return bench.b().Sample({logits, params, {}, {}}, bench.s()).status();
  });
  Row("sample top_k=50 top_p=0.9, 64 x 128256 (+sync)", sample_ms,
      4.0 * rows * kVocab, 0, p);
  bench.Release();
}

int Main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  // Line-buffered: a run cut short by a timeout keeps every finished row.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto created = CreateCudaBackend({.name = "cuda"});
  if (!created.ok()) {
    std::fprintf(stderr, "cuda_bench: %s\n",
                 created.status().ToString().c_str());
    return 1;
  }
  CudaBackend& b = *AsCudaBackend(created->get());
  const Peaks peaks = DevicePeaks(b.device_index());
  std::printf(
      "%s\npeak memory bandwidth %.0f GB/s, nominal bf16 %.0f TFLOP/s\n\n",
      b.name().c_str(), peaks.bandwidth / 1e9, peaks.bf16_flops / 1e12);
  Bench bench(b, quick);
  CopyAndGemmPeaks(bench, peaks);
  Gemv(bench, peaks);
  for (int batch : {1, 32}) {
    for (int ctx : {512, 2048, 8192, 32768}) {
      if (quick && ctx > 8192) continue;
      Attention(bench, peaks, batch, ctx, /*prefill=*/false);
    }
  }
  for (int len : {512, 2048, 8192})
    Attention(bench, peaks, 1, len, /*prefill=*/true);
  Elementwise(bench, peaks);
  return 0;
}

}  // namespace
}  // namespace infernum::kernels

int main(int argc, char** argv) { return infernum::kernels::Main(argc, argv); }
