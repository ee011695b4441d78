// Internal: the CudaBackend implementation class, shared by the .cc files
// that implement its parts (cuda_backend.cc: memory, streams, events;
// cuda_ops.cc: elementwise ops and GEMM; cuda_attention_op.cc;
// cuda_sampling_op.cc; cuda_graphs.cc uses the capture hooks).
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/caching_allocator.h"
#include "kernels/cuda/cublas_gemm.h"
#include "kernels/cuda/cuda_backend.h"

namespace infernum::kernels::cuda {

class CudaStream : public Stream {
 public:
  explicit CudaStream(cudaStream_t stream) : stream_(stream) {}
  ~CudaStream() override;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_;
};

class CudaEvent : public Event {
 public:
  explicit CudaEvent(cudaEvent_t event) : event_(event) {}
  ~CudaEvent() override;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_;
};

// Backend-owned device scratch buffers, one per purpose.
enum class ScratchSlot {
  kAttention = 0,
  kSamplingWork,
  kSamplingIo,
  kGemmWorkspace,  // cuBLASLt's workspace (fixed size, never grows).
  kCount
};

class CudaBackendImpl final : public CudaBackend {
 public:
  static absl::StatusOr<std::unique_ptr<CudaBackendImpl>> Create(
      const BackendOptions& options);
  ~CudaBackendImpl() override;

  DeviceType device_type() const override { return DeviceType::kCuda; }
  std::string name() const override { return name_; }
  DType activation_dtype() const override { return DType::kBF16; }
  // f16 checkpoints (Llama-2) become bf16, the cuBLASLt path's weight type;
  // f32 stays exact (tiny models, tests), bf16 as is.
  DType WeightDType(DType stored) const override {
    return stored == DType::kF16 ? DType::kBF16 : stored;
  }

  absl::StatusOr<DeviceBuffer> Allocate(size_t bytes) override;
  Stream* default_stream() override { return default_stream_.get(); }
  absl::StatusOr<std::unique_ptr<Stream>> CreateStream() override;
  absl::Status Synchronize(Stream* stream) override;
  absl::StatusOr<size_t> FreeMemory() override;
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes,
                            Stream* stream) override;
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes,
                          Stream* stream) override;
  absl::Status CopyOnDevice(void* dst, const void* src, size_t bytes,
                            Stream* stream) override;
  absl::Status Memset(void* dst, int value, size_t bytes,
                      Stream* stream) override;

  absl::Status Embedding(const EmbeddingParams& p, Stream* stream) override;
  absl::Status RmsNorm(const RmsNormParams& p, Stream* stream) override;
  absl::Status Rope(const RopeParams& p, Stream* stream) override;
  absl::Status Matmul(const MatmulParams& p, Stream* stream) override;
  absl::Status SiluMul(const SiluMulParams& p, Stream* stream) override;
  absl::Status Add(const AddParams& p, Stream* stream) override;
  absl::Status WriteKvCache(const WriteKvCacheParams& p,
                            Stream* stream) override;
  absl::Status PagedAttention(const PagedAttentionParams& p,
                              Stream* stream) override;
  absl::Status Argmax(const ArgmaxParams& p, Stream* stream) override;
  absl::Status Softmax(const SoftmaxParams& p, Stream* stream) override;
  absl::Status Cast(const CastParams& p, Stream* stream) override;

  absl::Status RopeWriteKvCache(const RopeWriteKvCacheParams& p,
                                Stream* stream) override;
  absl::StatusOr<GpuSamplingResult> Sample(const GpuSamplingInputs& in,
                                           Stream* stream) override;
  absl::StatusOr<std::unique_ptr<Event>> CreateEvent() override;
  absl::Status RecordEvent(Event* event, Stream* stream) override;
  absl::Status WaitEvent(Stream* stream, Event* event) override;
  absl::Status SynchronizeEvent(Event* event) override;
  absl::StatusOr<float> ElapsedMs(Event* start, Event* end) override;
  absl::StatusOr<DeviceBuffer> AllocatePinnedHost(size_t bytes) override;
  CudaAllocatorStats allocator_stats() const override {
    return allocator_.stats();
  }
  absl::Status ReleaseCachedMemory() override;
  void set_attention_kernel(AttentionKernel kernel) override {
    attention_kernel_ = kernel;
  }
  int num_sms() const override { return num_sms_; }
  int device_index() const override { return device_; }

  // --- internal ---
  // The CUDA stream behind `stream` (which must come from this backend;
  // null means the default stream). Also makes this backend's device current
  // on the calling thread (every op passes through here).
  cudaStream_t native(Stream* stream) const {
    Activate().IgnoreError();
    return static_cast<CudaStream*>(stream != nullptr ? stream
                                                      : default_stream_.get())
        ->get();
  }
  // Makes this backend's device current on the calling thread.
  absl::Status Activate() const;
  // Set by CudaGraphCache around a capture: Allocate, scratch growth,
  // Synchronize and Sample then fail with FailedPrecondition.
  void set_capturing(bool capturing) { capturing_ = capturing; }
  bool capturing() const { return capturing_; }
  // A device buffer of >= bytes for (`slot`, `stream`): streams never share
  // scratch. Growing allocates a new buffer; the old kAttention buffer is
  // retired (kept until destruction: in-flight work or captured graphs may
  // still use it), the others are freed (their users synchronize).
  absl::StatusOr<void*> Scratch(ScratchSlot slot, cudaStream_t stream,
                                size_t bytes);

 private:
  explicit CudaBackendImpl(int device) : device_(device) {}
  absl::Status Init();
  absl::Status CheckNotCapturing(std::string_view what) const;
  absl::StatusOr<void*> PinnedStaging(size_t bytes);

  const int device_;
  // Declared first so it is destroyed last: every buffer below returns to it.
  CachingAllocator allocator_;
  PinnedHostAllocator pinned_allocator_;
  std::string name_;
  int num_sms_ = 0;
  size_t max_shared_optin_ = 0;  // Per-block shared memory limit (opt-in).
  // The default stream's kGemmWorkspace scratch (fixed size, so it never
  // moves): Matmul on that stream skips the scratch lookup.
  void* default_gemm_workspace_ = nullptr;
  std::unique_ptr<CudaStream> default_stream_;
  std::unique_ptr<CublasGemm> gemm_;
  std::mutex scratch_mu_;
  std::map<std::pair<int, cudaStream_t>, DeviceBuffer> scratch_;
  std::vector<DeviceBuffer> retired_;
  DeviceBuffer staging_;  // Pinned, for Sample's inputs and outputs.
  std::atomic<bool> capturing_{false};
  AttentionKernel attention_kernel_ = AttentionKernel::kAuto;
};

}  // namespace infernum::kernels::cuda
