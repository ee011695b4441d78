// Host-side shape/dtype checks of op params, shared by every backend. Each
// returns OK or InvalidArgument("<op>: <name> <what>, got <tensor>").
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "absl/status/status.h"
#include "kernels/ops.h"
#include "kernels/tensor.h"

namespace infernum::kernels {

// `t` is defined, has `ndim` dims (none negative) and one of `dtypes`.
absl::Status CheckTensor(std::string_view op, std::string_view name,
                         const Tensor& t, int ndim,
                         std::initializer_list<DType> dtypes);
// t.dim(i) == expected.
absl::Status CheckDim(std::string_view op, std::string_view name,
                      const Tensor& t, int i, int64_t expected);
// Same ndim and dims (dtypes may differ).
absl::Status CheckSameShape(std::string_view op, std::string_view a_name,
                            const Tensor& a, std::string_view b_name,
                            const Tensor& b);
// The byte ranges of a and b do not overlap (or one is empty).
absl::Status CheckNoAlias(std::string_view op, std::string_view a_name,
                          const Tensor& a, std::string_view b_name,
                          const Tensor& b);
// t.data is `alignment`-byte aligned (vectorized kernels need 16).
absl::Status CheckAligned(std::string_view op, std::string_view name,
                          const Tensor& t, size_t alignment);
// The layout checks of SplitMatmul (ops.h): 1..kMaxOuts outputs, each
// [x.dim(0), n_i], the n_i adding up to w.dim(0), w.dim(1) == x.dim(1).
// Dtypes are the backend's to check.
absl::Status CheckSplitMatmul(const SplitMatmulParams& p);

}  // namespace infernum::kernels
