// Internal: the CUDA backend's caching device allocator and its page-locked
// host allocator.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/buffer.h"
#include "kernels/cuda/cuda_backend.h"

namespace infernum::kernels::cuda {

// Size classes: requests up to 1 MiB round up to a power of two (>= 512 B),
// larger ones to a multiple of 2 MiB. Freed blocks go to a free list per
// class and are reused for the next request of that class; cudaMalloc is
// only called on a miss. On cudaMalloc failure every cached block is freed
// and the call retried once; a second failure is ResourceExhausted.
// Thread-safe. Blocks are 256-byte aligned (cudaMalloc).
class CachingAllocator : public Allocator {
 public:
  CachingAllocator() = default;
  ~CachingAllocator() override;  // Frees the cached blocks.
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Refused (FailedPrecondition) while `refuse_reason` is set by the backend
  // (during graph capture).
  absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);
  void Deallocate(void* ptr, size_t bytes) override;
  // cudaFree of every cached block (cudaFree synchronizes the device).
  absl::Status ReleaseCached();
  CudaAllocatorStats stats() const;
  size_t cached_bytes() const;
  static size_t RoundSize(size_t bytes);

 private:
  absl::Status ReleaseCachedLocked();

  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // Rounded size -> blocks.
  CudaAllocatorStats stats_;
};

// cudaHostAlloc / cudaFreeHost, uncached. Stateless.
class PinnedHostAllocator : public Allocator {
 public:
  absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);
  void Deallocate(void* ptr, size_t bytes) override;
};

}  // namespace infernum::kernels::cuda
