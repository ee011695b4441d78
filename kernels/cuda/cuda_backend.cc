// CudaBackendImpl: creation, memory, streams, events and copies.
#include <cuda_runtime_api.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_status.h"

namespace infernum::kernels {
namespace cuda {
namespace {

constexpr size_t kGemmWorkspaceBytes = 32 << 20;  // cuBLASLt's Hopper advice.

absl::Status CheckCopy(std::string_view op, void* dst, const void* src) {
  if (dst == nullptr || src == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(op), ": null pointer"));
  }
  return absl::OkStatus();
}

}  // namespace

CudaStream::~CudaStream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

CudaEvent::~CudaEvent() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

absl::StatusOr<std::unique_ptr<CudaBackendImpl>> CudaBackendImpl::Create(
    const BackendOptions& options) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    const absl::Status status = CudaStatus(err, "cudaGetDeviceCount");
    return absl::UnavailableError(
        absl::StrCat("no usable CUDA device: ", status.message()));
  }
  if (count == 0) return absl::UnavailableError("no CUDA device present");
  if (options.device_index < 0 || options.device_index >= count) {
    return absl::UnavailableError(
        absl::StrCat("CUDA device ", options.device_index, " requested but ",
                     count, " present"));
  }
  cudaDeviceProp prop{};
  RETURN_IF_CUDA_ERROR(cudaGetDeviceProperties(&prop, options.device_index),
                       "cudaGetDeviceProperties");
  if (prop.major < 8) {
    return absl::UnavailableError(
        absl::StrCat("CUDA device ", prop.name, " is sm_", prop.major,
                     prop.minor, "; the backend needs sm_80 or newer"));
  }
  auto backend = std::unique_ptr<CudaBackendImpl>(
      new CudaBackendImpl(options.device_index));
  backend->num_sms_ = prop.multiProcessorCount;
  backend->max_shared_optin_ = prop.sharedMemPerBlockOptin;
  backend->name_ =
      absl::StrCat("cuda (", prop.name, ", sm_", prop.major, prop.minor, ", ",
                   prop.multiProcessorCount, " SMs)");
  RETURN_IF_ERROR(backend->Init());
  return backend;
}

absl::Status CudaBackendImpl::Init() {
  RETURN_IF_ERROR(Activate());
  cudaStream_t stream = nullptr;
  RETURN_IF_CUDA_ERROR(
      cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
      "cudaStreamCreate");
  default_stream_ = std::make_unique<CudaStream>(stream);
  ASSIGN_OR_RETURN(gemm_, CublasGemm::Create(kGemmWorkspaceBytes));
  // The default stream's GEMM workspace now, so that start-up, not the first
  // step, is where memory runs out.
  ASSIGN_OR_RETURN(
      default_gemm_workspace_,
      Scratch(ScratchSlot::kGemmWorkspace, stream, kGemmWorkspaceBytes));
  return absl::OkStatus();
}

CudaBackendImpl::~CudaBackendImpl() {
  // In-flight kernels may still use scratch and workspace buffers.
  if (Activate().ok()) cudaDeviceSynchronize();
}

absl::Status CudaBackendImpl::Activate() const {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device_)
    return absl::OkStatus();
  RETURN_IF_CUDA_ERROR(cudaSetDevice(device_), "cudaSetDevice");
  return absl::OkStatus();
}

absl::Status CudaBackendImpl::CheckNotCapturing(std::string_view what) const {
  if (!capturing_) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      std::string(what), " is not allowed during CUDA graph capture"));
}

absl::StatusOr<DeviceBuffer> CudaBackendImpl::Allocate(size_t bytes) {
  RETURN_IF_ERROR(CheckNotCapturing("Allocate"));
  RETURN_IF_ERROR(Activate());
  return allocator_.Allocate(bytes);
}

absl::StatusOr<void*> CudaBackendImpl::Scratch(ScratchSlot slot,
                                               cudaStream_t stream,
                                               size_t bytes) {
  std::lock_guard<std::mutex> lock(scratch_mu_);
  DeviceBuffer& buf = scratch_[{static_cast<int>(slot), stream}];
  if (buf.size() >= bytes && !buf.empty()) return buf.data();
  RETURN_IF_ERROR(CheckNotCapturing(
      "growing a scratch buffer (run the step once eagerly first)"));
  ASSIGN_OR_RETURN(DeviceBuffer grown, allocator_.Allocate(std::max<size_t>(
                                           bytes, 2 * buf.size())));
  if (!buf.empty() && slot == ScratchSlot::kAttention)
    retired_.push_back(std::move(buf));
  buf = std::move(grown);
  return buf.data();
}

absl::StatusOr<std::unique_ptr<Stream>> CudaBackendImpl::CreateStream() {
  RETURN_IF_ERROR(Activate());
  cudaStream_t stream = nullptr;
  RETURN_IF_CUDA_ERROR(
      cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
      "cudaStreamCreate");
  return std::unique_ptr<Stream>(std::make_unique<CudaStream>(stream));
}

absl::Status CudaBackendImpl::Synchronize(Stream* stream) {
  RETURN_IF_ERROR(CheckNotCapturing("Synchronize"));
  RETURN_IF_CUDA_ERROR(cudaStreamSynchronize(native(stream)),
                       "cudaStreamSynchronize");
  return absl::OkStatus();
}

absl::StatusOr<size_t> CudaBackendImpl::FreeMemory() {
  RETURN_IF_ERROR(Activate());
  size_t free_bytes = 0, total = 0;
  RETURN_IF_CUDA_ERROR(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
  return free_bytes + allocator_.cached_bytes();
}

absl::Status CudaBackendImpl::CopyToDevice(void* dst, const void* src,
                                           size_t bytes, Stream* stream) {
  if (bytes == 0) return absl::OkStatus();
  RETURN_IF_ERROR(CheckCopy("CopyToDevice", dst, src));
  RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, native(stream)),
      "CopyToDevice");
  return absl::OkStatus();
}

absl::Status CudaBackendImpl::CopyToHost(void* dst, const void* src,
                                         size_t bytes, Stream* stream) {
  if (bytes == 0) return absl::OkStatus();
  RETURN_IF_ERROR(CheckCopy("CopyToHost", dst, src));
  RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, native(stream)),
      "CopyToHost");
  return absl::OkStatus();
}

absl::Status CudaBackendImpl::CopyOnDevice(void* dst, const void* src,
                                           size_t bytes, Stream* stream) {
  if (bytes == 0) return absl::OkStatus();
  RETURN_IF_ERROR(CheckCopy("CopyOnDevice", dst, src));
  RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice,
                      native(stream)),
      "CopyOnDevice");
  return absl::OkStatus();
}

absl::Status CudaBackendImpl::Memset(void* dst, int value, size_t bytes,
                                     Stream* stream) {
  if (bytes == 0) return absl::OkStatus();
  if (dst == nullptr) return absl::InvalidArgumentError("Memset: null pointer");
  RETURN_IF_CUDA_ERROR(cudaMemsetAsync(dst, value, bytes, native(stream)),
                       "Memset");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Event>> CudaBackendImpl::CreateEvent() {
  RETURN_IF_ERROR(Activate());
  cudaEvent_t event = nullptr;
  RETURN_IF_CUDA_ERROR(cudaEventCreate(&event), "cudaEventCreate");
  return std::unique_ptr<Event>(std::make_unique<CudaEvent>(event));
}

absl::Status CudaBackendImpl::RecordEvent(Event* event, Stream* stream) {
  if (event == nullptr)
    return absl::InvalidArgumentError("RecordEvent: null event");
  RETURN_IF_CUDA_ERROR(
      cudaEventRecord(static_cast<CudaEvent*>(event)->get(), native(stream)),
      "cudaEventRecord");
  return absl::OkStatus();
}

absl::Status CudaBackendImpl::WaitEvent(Stream* stream, Event* event) {
  if (event == nullptr)
    return absl::InvalidArgumentError("WaitEvent: null event");
  RETURN_IF_CUDA_ERROR(
      cudaStreamWaitEvent(native(stream), static_cast<CudaEvent*>(event)->get(),
                          0),
      "cudaStreamWaitEvent");
  return absl::OkStatus();
}

absl::Status CudaBackendImpl::SynchronizeEvent(Event* event) {
  if (event == nullptr)
    return absl::InvalidArgumentError("SynchronizeEvent: null event");
  RETURN_IF_CUDA_ERROR(
      cudaEventSynchronize(static_cast<CudaEvent*>(event)->get()),
      "cudaEventSynchronize");
  return absl::OkStatus();
}

absl::StatusOr<float> CudaBackendImpl::ElapsedMs(Event* start, Event* end) {
  if (start == nullptr || end == nullptr) {
    return absl::InvalidArgumentError("ElapsedMs: null event");
  }
  float ms = 0.0f;
  RETURN_IF_CUDA_ERROR(
      cudaEventElapsedTime(&ms, static_cast<CudaEvent*>(start)->get(),
                           static_cast<CudaEvent*>(end)->get()),
      "cudaEventElapsedTime");
  return ms;
}

absl::StatusOr<DeviceBuffer> CudaBackendImpl::AllocatePinnedHost(size_t bytes) {
  RETURN_IF_ERROR(CheckNotCapturing("AllocatePinnedHost"));
  RETURN_IF_ERROR(Activate());
  return pinned_allocator_.Allocate(bytes);
}

absl::StatusOr<void*> CudaBackendImpl::PinnedStaging(size_t bytes) {
  if (staging_.size() < bytes || staging_.empty()) {
    ASSIGN_OR_RETURN(staging_, pinned_allocator_.Allocate(std::max<size_t>(
                                   bytes, 2 * staging_.size())));
  }
  return staging_.data();
}

absl::Status CudaBackendImpl::ReleaseCachedMemory() {
  RETURN_IF_ERROR(CheckNotCapturing("ReleaseCachedMemory"));
  RETURN_IF_ERROR(Activate());
  RETURN_IF_CUDA_ERROR(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return allocator_.ReleaseCached();
}

}  // namespace cuda

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(
    const BackendOptions& options) {
  ASSIGN_OR_RETURN(auto backend, cuda::CudaBackendImpl::Create(options));
  return std::unique_ptr<Backend>(std::move(backend));
}

CudaBackend* AsCudaBackend(Backend* backend) {
  if (backend == nullptr || backend->device_type() != DeviceType::kCuda)
    return nullptr;
  return static_cast<CudaBackend*>(backend);
}

}  // namespace infernum::kernels
