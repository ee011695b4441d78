// Internal to the CPU backend: reusable host buffers for per-call
// temporaries (the interleaved copy of x in Matmul, attention scores), so
// hot ops do not page-fault and zero a fresh allocation on every call.
// Thread-safe: several streams may run ops concurrently.
#pragma once

#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

namespace infernum::kernels::cpu {

class ScratchPool {
 public:
  // Buffers above this size are freed on release instead of kept.
  static constexpr size_t kMaxKeptFloats = size_t{64} << 20;  // 256 MiB.
  static constexpr size_t kMaxKeptBuffers = 8;

  // A buffer of at least `floats` floats (contents unspecified), returned
  // to the pool when the lease is destroyed.
  class Lease {
   public:
    Lease(ScratchPool* pool, std::vector<float> buffer)
        : pool_(pool), buffer_(std::move(buffer)) {}
    ~Lease() {
      if (pool_ != nullptr) pool_->Release(std::move(buffer_));
    }
    Lease(Lease&& o) noexcept
        : pool_(std::exchange(o.pool_, nullptr)),
          buffer_(std::move(o.buffer_)) {}
    Lease& operator=(Lease&&) = delete;
    float* data() { return buffer_.data(); }

   private:
    ScratchPool* pool_;
    std::vector<float> buffer_;
  };

  Lease Acquire(size_t floats) {
    std::vector<float> buffer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        buffer = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (buffer.size() < floats) buffer.resize(floats);
    return Lease(this, std::move(buffer));
  }

 private:
  void Release(std::vector<float> buffer) {
    if (buffer.size() > kMaxKeptFloats) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxKeptBuffers) free_.push_back(std::move(buffer));
  }

  std::mutex mu_;
  std::vector<std::vector<float>> free_;
};

}  // namespace infernum::kernels::cpu
