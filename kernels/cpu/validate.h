// Internal to the CPU backend: element conversion helpers, plus the shared
// shape/dtype checks of kernels/op_checks.h (found by the ops through the
// enclosing namespace).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "absl/status/status.h"
#include "kernels/op_checks.h"
#include "kernels/tensor.h"

namespace infernum::kernels::cpu {

// Element i of a tensor of dtype f32/bf16/f16 as f32.
float LoadAsF32(const void* data, DType dtype, int64_t i);

// dst[i] = src[i] for i < n, converting f32/bf16/f16 <-> f32/bf16/f16
// (round to nearest even when narrowing).
void ConvertElements(const void* src, DType src_dtype, void* dst,
                     DType dst_dtype, int64_t n);

}  // namespace infernum::kernels::cpu
