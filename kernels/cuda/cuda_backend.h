// The CUDA backend. CUDA-free header: include it anywhere.
//
// Activations and the KV cache are bf16 (activation_dtype() == kBF16) with
// f32 accumulation in every kernel; weights may be bf16 (fast path: cuBLASLt)
// or f32/f16 (portable SIMT GEMM). Streams are CUDA streams (non-blocking);
// every op is enqueued asynchronously, so host buffers given to CopyToHost
// are valid only after Synchronize(stream).
//
// Memory comes from a caching allocator (size classes, never returned to the
// driver until ReleaseCachedMemory or destruction; cudaMalloc failure first
// empties the cache, then yields ResourceExhausted). A freed buffer may be
// handed out again at once: when work on stream A may still use it and the
// new owner uses it on stream B, order the streams (events) first. Every
// DeviceBuffer must be destroyed before the backend that allocated it.
//
// Device-resident indices (token ids, slots, block tables) cannot be checked
// on the host without a sync; the kernels clamp or skip out-of-range ones
// instead of faulting (Embedding writes a zero row, WriteKvCache skips the
// token, attention clamps block ids), where the CPU backend returns
// InvalidArgument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/cuda/gpu_sampling.h"

namespace infernum::kernels {

// A CUDA event: orders work across streams and times it.
class Event {
 public:
  virtual ~Event() = default;
};

struct CudaAllocatorStats {
  size_t allocated_bytes = 0;  // Held by live DeviceBuffers (rounded sizes).
  size_t peak_allocated_bytes = 0;
  size_t cached_bytes = 0;        // Free blocks kept for reuse.
  int64_t num_device_allocs = 0;  // cudaMalloc calls that succeeded.
  int64_t num_cache_hits = 0;
  int64_t num_oom_retries = 0;  // Cache flushes forced by cudaMalloc failing.
};

// Rope (ops.h RopeParams) followed by WriteKvCache (WriteKvCacheParams) in
// one kernel: q and k are rotated in place and the rotated k and the given v
// of token i are written to slot slot_mapping[i] (skipped when negative).
// Same shapes and dtypes as the two ops.
struct RopeWriteKvCacheParams {
  Tensor q;          // [n, nh, hd] bf16, in place.
  Tensor k;          // [n, nkv, hd] bf16, in place.
  Tensor v;          // [n, nkv, hd] bf16.
  Tensor positions;  // [n] i32.
  Tensor inv_freq;   // [hd/2] f32.
  Tensor k_cache;    // [num_blocks, block_size, nkv, hd] bf16.
  Tensor v_cache;
  Tensor slot_mapping;  // [n] i32.
};

// Which kernel PagedAttention uses. kAuto: the split-K decode kernel when
// every sequence has at most one query row (max_query_len <= 1), else the
// tensor-core flash kernel (when head_dim % 16 == 0, head_dim <= 256, and
// nh / nkv <= 64), else the row-parallel kernel. The others force one kernel
// (tests and benchmarks; kFlash falls back when unsupported).
enum class AttentionKernel { kAuto, kRowParallel, kFlash };

class CudaBackend : public Backend {
 public:
  // Fused RoPE + KV-cache write (see RopeWriteKvCacheParams).
  virtual absl::Status RopeWriteKvCache(const RopeWriteKvCacheParams& p,
                                        Stream* stream) = 0;

  // Samples one token per row on the device (gpu_sampling.h). Enqueues on
  // `stream`, then synchronizes it and returns host results. InvalidArgument
  // for bad shapes or a row whose logits hold NaN/+inf or are all -inf
  // (naming the row). Not allowed during graph capture.
  virtual absl::StatusOr<GpuSamplingResult> Sample(const GpuSamplingInputs& in,
                                                   Stream* stream) = 0;

  // Events.
  virtual absl::StatusOr<std::unique_ptr<Event>> CreateEvent() = 0;
  virtual absl::Status RecordEvent(Event* event, Stream* stream) = 0;
  // Later work on `stream` waits for the event's recorded work.
  virtual absl::Status WaitEvent(Stream* stream, Event* event) = 0;
  virtual absl::Status SynchronizeEvent(Event* event) = 0;
  // Milliseconds between two recorded, completed events.
  virtual absl::StatusOr<float> ElapsedMs(Event* start, Event* end) = 0;

  // Page-locked host memory (fast async copies; freed by cudaFreeHost).
  virtual absl::StatusOr<DeviceBuffer> AllocatePinnedHost(size_t bytes) = 0;
  virtual CudaAllocatorStats allocator_stats() const = 0;
  // Returns every cached (free) block to the driver. Synchronizes the device.
  virtual absl::Status ReleaseCachedMemory() = 0;

  virtual void set_attention_kernel(AttentionKernel kernel) = 0;
  virtual int num_sms() const = 0;
  virtual int device_index() const = 0;
};

// Creates the CUDA backend on options.device_index. Unavailable when no
// usable device is present (no driver, no GPU, index out of range, or a GPU
// older than compute capability 8.0); never crashes.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(
    const BackendOptions& options);

// `backend` as a CudaBackend, or nullptr when it is another backend.
CudaBackend* AsCudaBackend(Backend* backend);

}  // namespace infernum::kernels
