#include "kernels/cuda/caching_allocator.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "kernels/cuda/cuda_status.h"

namespace infernum::kernels::cuda {
namespace {

constexpr size_t kMinBlock = 512;
constexpr size_t kSmallLimit = 1 << 20;
constexpr size_t kLargeGranule = 2 << 20;
constexpr size_t kMaxRequest = size_t{1}
                               << 46;  // Keeps RoundSize from overflowing.

}  // namespace

size_t CachingAllocator::RoundSize(size_t bytes) {
  if (bytes <= kMinBlock) return kMinBlock;
  if (bytes <= kSmallLimit) {
    size_t size = kMinBlock;
    while (size < bytes) size <<= 1;
    return size;
  }
  return (bytes + kLargeGranule - 1) / kLargeGranule * kLargeGranule;
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stats_.allocated_bytes != 0) {
    LOG(WARNING) << "CUDA allocator destroyed with " << stats_.allocated_bytes
                 << " bytes still allocated (buffers outlived the backend)";
  }
  ReleaseCachedLocked().IgnoreError();
}

absl::StatusOr<DeviceBuffer> CachingAllocator::Allocate(size_t bytes) {
  if (bytes > kMaxRequest) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes"));
  }
  const size_t size = RoundSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    void* ptr = it->second.back();
    it->second.pop_back();
    stats_.cached_bytes -= size;
    stats_.allocated_bytes += size;
    stats_.peak_allocated_bytes =
        std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    ++stats_.num_cache_hits;
    return DeviceBuffer(this, ptr, bytes);
  }
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, size);
  if (err == cudaErrorMemoryAllocation && stats_.cached_bytes > 0) {
    cudaGetLastError();
    ++stats_.num_oom_retries;
    const absl::Status released = ReleaseCachedLocked();
    if (!released.ok()) return released;
    err = cudaMalloc(&ptr, size);
  }
  if (err != cudaSuccess) {
    return CudaStatus(err, absl::StrCat("cudaMalloc of ", bytes, " bytes (",
                                        stats_.allocated_bytes, " in use)"));
  }
  ++stats_.num_device_allocs;
  stats_.allocated_bytes += size;
  stats_.peak_allocated_bytes =
      std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return DeviceBuffer(this, ptr, bytes);
}

void CachingAllocator::Deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t size = RoundSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_[size].push_back(ptr);
  stats_.allocated_bytes -= size;
  stats_.cached_bytes += size;
}

absl::Status CachingAllocator::ReleaseCached() {
  std::lock_guard<std::mutex> lock(mu_);
  return ReleaseCachedLocked();
}

absl::Status CachingAllocator::ReleaseCachedLocked() {
  absl::Status status;
  for (auto& [size, blocks] : free_) {
    for (void* ptr : blocks) {
      const cudaError_t err = cudaFree(ptr);
      if (err != cudaSuccess && status.ok())
        status = CudaStatus(err, "cudaFree");
      stats_.cached_bytes -= size;
    }
    blocks.clear();
  }
  free_.clear();
  return status;
}

CudaAllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t CachingAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_.cached_bytes;
}

absl::StatusOr<DeviceBuffer> PinnedHostAllocator::Allocate(size_t bytes) {
  void* ptr = nullptr;
  const cudaError_t err =
      cudaHostAlloc(&ptr, std::max<size_t>(bytes, 1), cudaHostAllocDefault);
  if (err != cudaSuccess) {
    const absl::Status status =
        CudaStatus(err, absl::StrCat("cudaHostAlloc of ", bytes, " bytes"));
    return absl::ResourceExhaustedError(status.message());
  }
  return DeviceBuffer(this, ptr, bytes);
}

void PinnedHostAllocator::Deallocate(void* ptr, size_t) {
  if (ptr != nullptr) cudaFreeHost(ptr);
}

}  // namespace infernum::kernels::cuda
