// Tensor: a non-owning, row-major view of device memory (up to 4 dims).
// Ownership lives in DeviceBuffer (buffer.h); tensors are cheap to copy and
// are what op params carry. A default Tensor (data == nullptr) means "absent"
// for optional op inputs.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "kernels/dtype.h"

namespace infernum::kernels {

struct Tensor {
  static constexpr int kMaxDims = 4;

  void* data = nullptr;  // Device pointer (host pointer on the CPU backend).
  DType dtype = DType::kF32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {0, 0, 0, 0};

  Tensor() = default;
  Tensor(void* d, DType t, std::initializer_list<int64_t> dims);

  bool defined() const { return data != nullptr; }
  int64_t dim(int i) const { return shape[i < 0 ? ndim + i : i]; }
  int64_t numel() const;
  size_t nbytes() const {
    return static_cast<size_t>(numel()) * DTypeSize(dtype);
  }
  // Elements per row (product of every dim but the first); 1 for 1-D tensors.
  int64_t row_size() const;

  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }

  // View of rows [begin, begin + count) along dim 0.
  Tensor Rows(int64_t begin, int64_t count) const;
  // Same memory, new shape; CHECKs that numel matches.
  Tensor Reshape(std::initializer_list<int64_t> dims) const;

  std::string DebugString() const;  // "bf16[4, 64]"
};

}  // namespace infernum::kernels
