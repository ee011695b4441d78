// Internal to the CPU backend: reusable host buffers for per-call
// temporaries (the interleaved copy of x in Matmul, attention scores), so
// hot ops do not page-fault a fresh allocation on every call. Thread-safe:
// several streams may run ops concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace infernum::kernels::cpu {

class ScratchPool {
 public:
  // Buffers above this size are freed on release instead of kept.
  static constexpr size_t kMaxKeptFloats = size_t{64} << 20;  // 256 MiB.
  static constexpr size_t kMaxKeptBuffers = 8;

  struct Buffer {
    std::unique_ptr<float[]> data;
    size_t size = 0;  // In floats.
  };

  // A buffer of at least `floats` floats (contents unspecified), returned
  // to the pool when the lease is destroyed.
  class Lease {
   public:
    Lease(ScratchPool* pool, Buffer buffer)
        : pool_(pool), buffer_(std::move(buffer)) {}
    ~Lease() {
      if (pool_ != nullptr) pool_->Release(std::move(buffer_));
    }
    Lease(Lease&& o) noexcept
        : pool_(std::exchange(o.pool_, nullptr)),
          buffer_(std::move(o.buffer_)) {}
    Lease& operator=(Lease&&) = delete;
    float* data() { return buffer_.data.get(); }

   private:
    ScratchPool* pool_;
    Buffer buffer_;
  };

  // Takes the smallest kept buffer that fits, else replaces the largest one
  // (its contents are not preserved).
  Lease Acquire(size_t floats) {
    Buffer buffer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      size_t pick = free_.size();
      for (size_t i = 0; i < free_.size(); ++i) {
        if (pick == free_.size() || Better(free_[i], free_[pick], floats)) {
          pick = i;
        }
      }
      if (pick < free_.size()) {
        buffer = std::move(free_[pick]);
        free_.erase(free_.begin() + pick);
      }
    }
    if (buffer.size < floats) {
      buffer.data.reset(new float[floats]);
      buffer.size = floats;
    }
    return Lease(this, std::move(buffer));
  }

 private:
  // Whether a suits a request of `floats` better than b: a fitting buffer
  // beats one that does not; among fitting ones the smaller wins, among
  // non-fitting ones the larger.
  static bool Better(const Buffer& a, const Buffer& b, size_t floats) {
    const bool a_fits = a.size >= floats, b_fits = b.size >= floats;
    if (a_fits != b_fits) return a_fits;
    return a_fits ? a.size < b.size : a.size > b.size;
  }

  void Release(Buffer buffer) {
    if (buffer.size > kMaxKeptFloats) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxKeptBuffers) free_.push_back(std::move(buffer));
  }

  std::mutex mu_;
  std::vector<Buffer> free_;
};

}  // namespace infernum::kernels::cpu
