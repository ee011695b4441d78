#include "kernels/tensor.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "kernels/buffer.h"

namespace infernum::kernels {

Tensor::Tensor(void* d, DType t, std::initializer_list<int64_t> dims)
    : data(d), dtype(t) {
  CHECK(dims.size() <= kMaxDims) << "too many dims";
  for (int64_t v : dims) shape[ndim++] = v;
}

int64_t Tensor::numel() const {
  if (ndim == 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

int64_t Tensor::row_size() const {
  int64_t n = 1;
  for (int i = 1; i < ndim; ++i) n *= shape[i];
  return n;
}

Tensor Tensor::Rows(int64_t begin, int64_t count) const {
  CHECK(ndim >= 1 && begin >= 0 && begin + count <= shape[0]) << DebugString();
  Tensor t = *this;
  t.data = static_cast<char*>(data) + begin * row_size() * DTypeSize(dtype);
  t.shape[0] = count;
  return t;
}

Tensor Tensor::Reshape(std::initializer_list<int64_t> dims) const {
  Tensor t(data, dtype, dims);
  CHECK(t.numel() == numel())
      << "reshape " << DebugString() << " -> " << t.DebugString();
  return t;
}

std::string Tensor::DebugString() const {
  return absl::StrCat(DTypeName(dtype), "[",
                      absl::StrJoin(shape, shape + ndim, ", "), "]");
}

Tensor DeviceBuffer::View(DType dtype,
                          std::initializer_list<int64_t> dims) const {
  Tensor t(ptr_, dtype, dims);
  CHECK(t.nbytes() <= bytes_) << "view " << t.DebugString()
                              << " exceeds a buffer of " << bytes_ << " bytes";
  return t;
}

}  // namespace infernum::kernels
