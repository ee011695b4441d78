// Backend: the one interface every compute device implements (CPU now, CUDA
// later). The model, the engine and the worker only talk to this.
//
// Contract:
// - Memory comes from Allocate() as a move-only DeviceBuffer; it is device
//   memory (host memory on the CPU backend) and is freed by its destructor.
// - Every op and copy takes an explicit Stream. Work on one stream runs in
//   order; Synchronize(stream) waits for it. The CPU backend executes eagerly,
//   so its streams are trivially in order.
// - Ops validate shapes and dtypes and return InvalidArgument on mismatch
//   (programmer errors in practice, but cheap to check and never a crash).
// - A Backend is used from one thread at a time per stream; it has no global
//   state, so several backends can coexist in one process.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/buffer.h"
#include "kernels/ops.h"

namespace infernum::kernels {

enum class DeviceType { kCpu, kCuda };

class Stream {
 public:
  virtual ~Stream() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceType device_type() const = 0;
  virtual std::string name() const = 0;  // "cpu (avx512, 2 threads)".
  // The dtype activations and the KV cache use on this backend.
  virtual DType activation_dtype() const = 0;
  // The dtype a weight stored as `stored` gets on this backend: the weight
  // loader casts to it once at load time. Default: kept as stored.
  virtual DType WeightDType(DType stored) const { return stored; }

  // --- memory and streams ---
  // ResourceExhausted when the device is out of memory.
  virtual absl::StatusOr<DeviceBuffer> Allocate(size_t bytes) = 0;
  virtual Stream* default_stream() = 0;
  virtual absl::StatusOr<std::unique_ptr<Stream>> CreateStream() = 0;
  virtual absl::Status Synchronize(Stream* stream) = 0;
  // Bytes of device memory free now (for KV cache sizing).
  virtual absl::StatusOr<size_t> FreeMemory() = 0;

  virtual absl::Status CopyToDevice(void* dst, const void* src, size_t bytes,
                                    Stream* stream) = 0;
  virtual absl::Status CopyToHost(void* dst, const void* src, size_t bytes,
                                  Stream* stream) = 0;
  virtual absl::Status CopyOnDevice(void* dst, const void* src, size_t bytes,
                                    Stream* stream) = 0;
  virtual absl::Status Memset(void* dst, int value, size_t bytes,
                              Stream* stream) = 0;

  // --- ops (see ops.h for each contract) ---
  virtual absl::Status Embedding(const EmbeddingParams& p, Stream* stream) = 0;
  virtual absl::Status RmsNorm(const RmsNormParams& p, Stream* stream) = 0;
  virtual absl::Status Rope(const RopeParams& p, Stream* stream) = 0;
  virtual absl::Status Matmul(const MatmulParams& p, Stream* stream) = 0;
  // One Matmul per output block unless the backend fuses them
  // (backend.cc).
  virtual absl::Status SplitMatmul(const SplitMatmulParams& p, Stream* stream);
  virtual absl::Status SiluMul(const SiluMulParams& p, Stream* stream) = 0;
  virtual absl::Status Add(const AddParams& p, Stream* stream) = 0;
  virtual absl::Status WriteKvCache(const WriteKvCacheParams& p,
                                    Stream* stream) = 0;
  virtual absl::Status PagedAttention(const PagedAttentionParams& p,
                                      Stream* stream) = 0;
  virtual absl::Status Argmax(const ArgmaxParams& p, Stream* stream) = 0;
  virtual absl::Status Softmax(const SoftmaxParams& p, Stream* stream) = 0;
  virtual absl::Status Cast(const CastParams& p, Stream* stream) = 0;
};

struct BackendOptions {
  std::string name = "cpu";  // "cpu" | "cuda".
  int num_threads = 0;   // CPU: threads including the caller; 0 = all cores.
  int device_index = 0;  // CUDA: which GPU.
  // CPU: arithmetic of matmuls with bf16 weights: "f32" (exact, the
  // reference) or "bf16" (activations rounded to bf16, AVX512-BF16 dot
  // products; see CpuMatmulPrecision in cpu/cpu_backend.h).
  std::string cpu_matmul_precision = "f32";
};

// Creates the named backend. InvalidArgument for an unknown name or a bad
// option, Unavailable when the device is missing (e.g. "cuda" without a GPU).
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(
    const BackendOptions& options);

}  // namespace infernum::kernels
