// Internal to the CPU backend: shape/dtype checks shared by the ops. Each
// returns OK or InvalidArgument("<op>: <what> ..., got <tensor>").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "absl/status/status.h"
#include "kernels/tensor.h"

namespace infernum::kernels::cpu {

// `t` is defined, has `ndim` dims (none negative) and one of `dtypes`.
absl::Status CheckTensor(std::string_view op, std::string_view name,
                         const Tensor& t, int ndim,
                         std::initializer_list<DType> dtypes);

// t.dim(i) == expected.
absl::Status CheckDim(std::string_view op, std::string_view name,
                      const Tensor& t, int i, int64_t expected);

// a and b have the same ndim and dims (dtypes may differ).
absl::Status CheckSameShape(std::string_view op, std::string_view a_name,
                            const Tensor& a, std::string_view b_name,
                            const Tensor& b);

// The byte ranges of a and b do not overlap (or one of them is empty).
absl::Status CheckNoAlias(std::string_view op, std::string_view a_name,
                          const Tensor& a, std::string_view b_name,
                          const Tensor& b);

// Element i of a tensor of dtype f32/bf16/f16 as f32.
float LoadAsF32(const void* data, DType dtype, int64_t i);

// dst[i] = src[i] for i < n, converting f32/bf16/f16 <-> f32/bf16/f16
// (round to nearest even when narrowing).
void ConvertElements(const void* src, DType src_dtype, void* dst,
                     DType dst_dtype, int64_t n);

}  // namespace infernum::kernels::cpu
