// Internal to the CUDA backend: types shared by the kernel launchers (the
// *_kernels.h headers) and the host code that calls them. Every launcher
// takes a params struct of raw device pointers plus an explicit stream,
// enqueues its kernel(s) and returns the launch error (cudaSuccess when the
// launch was accepted; execution errors surface at the next sync).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace infernum::kernels::cuda {

// Element types the kernels understand; the values equal kernels::DType's
// (checked by static_assert in the host code).
enum class ElemType : int { kF32 = 0, kBF16 = 1, kF16 = 2, kI32 = 3 };

constexpr int ElemSize(ElemType t) {
  return t == ElemType::kBF16 || t == ElemType::kF16 ? 2 : 4;
}

}  // namespace infernum::kernels::cuda
