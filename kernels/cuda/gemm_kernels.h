// Internal: a portable tiled SIMT GEMM, out = x @ w^T (+ out), for the dtype
// combinations cuBLASLt does not take (f32/f16 weights with bf16
// activations) and shapes it has no algorithm for. f32 accumulation.
#pragma once

#include "kernels/cuda/launch_common.h"

namespace infernum::kernels::cuda {

struct GemmLaunch {
  const void* x;  // [m, k], f32/bf16.
  ElemType x_type;
  const void* w;  // [n, k], f32/bf16/f16.
  ElemType w_type;
  void* out;  // [m, n], f32/bf16.
  ElemType out_type;
  int64_t m, n, k;
  bool accumulate;
};
cudaError_t LaunchFallbackGemm(const GemmLaunch& p, cudaStream_t stream);

}  // namespace infernum::kernels::cuda
