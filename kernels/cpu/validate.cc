#include "kernels/cpu/validate.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace infernum::kernels::cpu {

float LoadAsF32(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF32:
      return static_cast<const float*>(data)[i];
    case DType::kBF16:
      return Bf16ToF32(static_cast<const uint16_t*>(data)[i]);
    case DType::kF16:
      return F16ToF32(static_cast<const uint16_t*>(data)[i]);
    case DType::kI32:
      return static_cast<float>(static_cast<const int32_t*>(data)[i]);
  }
  return 0.0f;
}

void ConvertElements(const void* src, DType src_dtype, void* dst,
                     DType dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    std::memmove(dst, src, static_cast<size_t>(n) * DTypeSize(src_dtype));
    return;
  }
  switch (dst_dtype) {
    case DType::kF32: {
      float* out = static_cast<float*>(dst);
      if (src_dtype == DType::kBF16) {
        const auto* in = static_cast<const uint16_t*>(src);
        for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToF32(in[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) out[i] = LoadAsF32(src, src_dtype, i);
      }
      return;
    }
    case DType::kBF16: {
      auto* out = static_cast<uint16_t*>(dst);
      if (src_dtype == DType::kF32) {  // The KV cache write: a tight loop.
        const auto* in = static_cast<const float*>(src);
        for (int64_t i = 0; i < n; ++i) out[i] = F32ToBf16(in[i]);
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        out[i] = F32ToBf16(LoadAsF32(src, src_dtype, i));
      }
      return;
    }
    case DType::kF16: {
      auto* out = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) {
        out[i] = F32ToF16(LoadAsF32(src, src_dtype, i));
      }
      return;
    }
    case DType::kI32:
      return;  // Callers never convert to i32.
  }
}

}  // namespace infernum::kernels::cpu
