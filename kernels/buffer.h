// DeviceBuffer: move-only owner of one device allocation. Freed through the
// allocator that made it when the buffer is destroyed or reassigned.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <utility>

#include "kernels/tensor.h"

namespace infernum::kernels {

// Implemented by each backend (or its caching allocator).
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void Deallocate(void* ptr, size_t bytes) = 0;
};

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Allocator* owner, void* ptr, size_t bytes)
      : owner_(owner), ptr_(ptr), bytes_(bytes) {}
  ~DeviceBuffer() { Reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : owner_(std::exchange(o.owner_, nullptr)),
        ptr_(std::exchange(o.ptr_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      Reset();
      owner_ = std::exchange(o.owner_, nullptr);
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  bool empty() const { return ptr_ == nullptr; }

  // A tensor view over the start of this buffer; CHECKs that it fits.
  Tensor View(DType dtype, std::initializer_list<int64_t> dims) const;

  void Reset() {
    if (ptr_ != nullptr && owner_ != nullptr) owner_->Deallocate(ptr_, bytes_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

 private:
  Allocator* owner_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace infernum::kernels
