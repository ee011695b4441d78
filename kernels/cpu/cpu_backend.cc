#include "kernels/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/thread_pool.h"
#include "kernels/cpu/cpu_context.h"

namespace infernum::kernels {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kHugePage = 2 << 20;

// Host memory from aligned_alloc; stateless, so buffers may outlive the
// backend that allocated them.
class HostAllocator : public Allocator {
 public:
  void Deallocate(void* ptr, size_t /*bytes*/) override { std::free(ptr); }
};

HostAllocator* SharedHostAllocator() {
  static HostAllocator allocator;  // Stateless.
  return &allocator;
}

class CpuStream : public Stream {};

class CpuBackend : public Backend {
 public:
  CpuBackend(const CpuBackendOptions& options, CpuIsa isa)
      : pool_(options.num_threads) {
    ctx_.pool = &pool_;
    ctx_.isa = isa;
    ctx_.vec = &cpu::GetVecKernels(isa);
    ctx_.scratch = &scratch_;
    ctx_.avx512_bf16 = isa == CpuIsa::kAvx512 && options.allow_avx512_bf16 &&
                       CpuHasAvx512Bf16();
    ctx_.matmul_precision = options.matmul_precision;
  }

  DeviceType device_type() const override { return DeviceType::kCpu; }
  std::string name() const override {
    std::string precision;
    if (ctx_.matmul_precision == CpuMatmulPrecision::kBf16) {
      precision =
          absl::StrCat(", bf16 matmul (",
                       ctx_.avx512_bf16 ? "avx512_bf16" : "emulated", ")");
    }
    return absl::StrCat("cpu (", CpuIsaName(ctx_.isa), ", ",
                        pool_.num_threads(), " threads", precision, ")");
  }
  DType activation_dtype() const override { return DType::kF32; }

  absl::StatusOr<DeviceBuffer> Allocate(size_t bytes) override {
    // Large buffers (weights, KV cache) are aligned to huge pages and advised
    // to use them: fewer TLB misses when streaming weights.
    const size_t align = bytes >= kHugePage ? kHugePage : kAlignment;
    const size_t rounded =
        (std::max<size_t>(bytes, 1) + align - 1) / align * align;
    void* ptr = std::aligned_alloc(align, rounded);
    if (ptr == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", bytes, " bytes"));
    }
    if (align == kHugePage) madvise(ptr, rounded, MADV_HUGEPAGE);
    return DeviceBuffer(SharedHostAllocator(), ptr, bytes);
  }
  Stream* default_stream() override { return &default_stream_; }
  absl::StatusOr<std::unique_ptr<Stream>> CreateStream() override {
    return std::unique_ptr<Stream>(std::make_unique<CpuStream>());
  }
  absl::Status Synchronize(Stream*) override { return absl::OkStatus(); }
  absl::StatusOr<size_t> FreeMemory() override;

  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes,
                            Stream*) override {
    return Copy(dst, src, bytes);
  }
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes,
                          Stream*) override {
    return Copy(dst, src, bytes);
  }
  absl::Status CopyOnDevice(void* dst, const void* src, size_t bytes,
                            Stream*) override {
    return Copy(dst, src, bytes);
  }
  absl::Status Memset(void* dst, int value, size_t bytes, Stream*) override {
    if (bytes == 0) return absl::OkStatus();
    if (dst == nullptr) {
      return absl::InvalidArgumentError("Memset: null pointer");
    }
    std::memset(dst, value, bytes);
    return absl::OkStatus();
  }

  absl::Status Embedding(const EmbeddingParams& p, Stream*) override {
    return cpu::Embedding(ctx_, p);
  }
  absl::Status RmsNorm(const RmsNormParams& p, Stream*) override {
    return cpu::RmsNorm(ctx_, p);
  }
  absl::Status Rope(const RopeParams& p, Stream*) override {
    return cpu::Rope(ctx_, p);
  }
  absl::Status Matmul(const MatmulParams& p, Stream*) override {
    return cpu::Matmul(ctx_, p);
  }
  absl::Status SplitMatmul(const SplitMatmulParams& p, Stream*) override {
    return cpu::SplitMatmul(ctx_, p);
  }
  absl::Status SiluMul(const SiluMulParams& p, Stream*) override {
    return cpu::SiluMul(ctx_, p);
  }
  absl::Status Add(const AddParams& p, Stream*) override {
    return cpu::Add(ctx_, p);
  }
  absl::Status WriteKvCache(const WriteKvCacheParams& p, Stream*) override {
    return cpu::WriteKvCache(ctx_, p);
  }
  absl::Status PagedAttention(const PagedAttentionParams& p, Stream*) override {
    return cpu::PagedAttention(ctx_, p);
  }
  absl::Status Argmax(const ArgmaxParams& p, Stream*) override {
    return cpu::Argmax(ctx_, p);
  }
  absl::Status Softmax(const SoftmaxParams& p, Stream*) override {
    return cpu::Softmax(ctx_, p);
  }
  absl::Status Cast(const CastParams& p, Stream*) override {
    return cpu::Cast(ctx_, p);
  }

 private:
  static absl::Status Copy(void* dst, const void* src, size_t bytes) {
    if (bytes == 0) return absl::OkStatus();
    if (dst == nullptr || src == nullptr) {
      return absl::InvalidArgumentError("copy: null pointer");
    }
    std::memmove(dst, src, bytes);
    return absl::OkStatus();
  }

  ThreadPool pool_;
  cpu::ScratchPool scratch_;
  cpu::CpuContext ctx_;
  CpuStream default_stream_;
};

absl::StatusOr<size_t> CpuBackend::FreeMemory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t value = 0;
  std::string unit;
  while (meminfo >> key >> value) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") return value * 1024;  // Reported in kB.
  }
  return absl::UnavailableError("MemAvailable not found in /proc/meminfo");
}

}  // namespace

CpuIsa DetectCpuIsa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq")) {
    return CpuIsa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c")) {
    return CpuIsa::kAvx2;
  }
#endif
  return CpuIsa::kScalar;
}

const char* CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kScalar:
      return "scalar";
  }
  return "?";
}

bool CpuHasAvx512Bf16() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return DetectCpuIsa() == CpuIsa::kAvx512 &&
         __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

const char* CpuMatmulPrecisionName(CpuMatmulPrecision precision) {
  return precision == CpuMatmulPrecision::kBf16 ? "bf16" : "f32";
}

bool ParseCpuMatmulPrecision(std::string_view name,
                             CpuMatmulPrecision* precision) {
  for (CpuMatmulPrecision p :
       {CpuMatmulPrecision::kF32, CpuMatmulPrecision::kBf16}) {
    if (name == CpuMatmulPrecisionName(p)) {
      *precision = p;
      return true;
    }
  }
  return false;
}

std::unique_ptr<Backend> CreateCpuBackend(const CpuBackendOptions& options) {
  const CpuIsa isa = std::min(DetectCpuIsa(), options.max_isa);
  return std::make_unique<CpuBackend>(options, isa);
}

std::unique_ptr<Backend> CreateCpuBackend(int num_threads) {
  return CreateCpuBackend(CpuBackendOptions{.num_threads = num_threads});
}

std::unique_ptr<Backend> CreateCpuBackend(int num_threads, CpuIsa max_isa) {
  return CreateCpuBackend(
      CpuBackendOptions{.num_threads = num_threads, .max_isa = max_isa});
}

namespace cpu {

void ParallelDynamic(const CpuContext& ctx, int64_t items, int64_t grain,
                     const std::function<void(int, int64_t, int64_t)>& fn) {
  if (items <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (ctx.pool->num_threads() == 1 || items <= grain) {
    fn(0, 0, items);
    return;
  }
  std::atomic<int64_t> next{0};
  ctx.pool->RunOnAvailable([&](int thread) {
    while (true) {
      const int64_t begin = next.fetch_add(grain, std::memory_order_relaxed);
      if (begin >= items) return;
      fn(thread, begin, std::min(items, begin + grain));
    }
  });
}

}  // namespace cpu
}  // namespace infernum::kernels
