// Internal device-side helpers for the .cu files only (never included by host
// C++): f32 <-> storage type conversion, 16-byte packed loads, warp and block
// reductions, and the element-type dispatch macro.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/launch_common.h"

namespace infernum::kernels::cuda {

template <typename T>
struct Num;
template <>
struct Num<float> {
  static __device__ __forceinline__ float ToF(float v) { return v; }
  static __device__ __forceinline__ float FromF(float v) { return v; }
};
template <>
struct Num<__nv_bfloat16> {
  static __device__ __forceinline__ float ToF(__nv_bfloat16 v) {
    return __bfloat162float(v);
  }
  static __device__ __forceinline__ __nv_bfloat16 FromF(float v) {
    return __float2bfloat16_rn(v);
  }
};
template <>
struct Num<__half> {
  static __device__ __forceinline__ float ToF(__half v) {
    return __half2float(v);
  }
  static __device__ __forceinline__ __half FromF(float v) {
    return __float2half_rn(v);
  }
};

template <typename T>
__device__ __forceinline__ float ToF(T v) {
  return Num<T>::ToF(v);
}
template <typename T>
__device__ __forceinline__ T FromF(float v) {
  return Num<T>::FromF(v);
}

// kN consecutive elements of T in one 16-byte word.
template <typename T>
union Pack16 {
  static constexpr int kN = 16 / sizeof(T);
  uint4 raw;
  T v[kN];
};

// Loads 16 bytes (kN elements) at p (16-byte aligned) as f32.
template <typename T>
__device__ __forceinline__ void LoadPack(const T* p,
                                         float (&out)[Pack16<T>::kN]) {
  Pack16<T> pk;
  pk.raw = *reinterpret_cast<const uint4*>(p);
#pragma unroll
  for (int i = 0; i < Pack16<T>::kN; ++i) out[i] = ToF(pk.v[i]);
}

template <typename T>
__device__ __forceinline__ void StorePack(T* p,
                                          const float (&in)[Pack16<T>::kN]) {
  Pack16<T> pk;
#pragma unroll
  for (int i = 0; i < Pack16<T>::kN; ++i) pk.v[i] = FromF<T>(in[i]);
  *reinterpret_cast<uint4*>(p) = pk.raw;
}

__device__ __forceinline__ bool Aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum / max: every thread of the block must call it (blockDim.x a
// multiple of 32, at most 1024); every thread gets the result. `scratch` is
// 32 floats of shared memory, reusable right after the call returns.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int num_warps = blockDim.x >> 5;
  v = WarpSum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return WarpSum(lane < num_warps ? scratch[lane] : 0.0f);
}

__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int num_warps = blockDim.x >> 5;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return WarpMax(lane < num_warps ? scratch[lane] : -INFINITY);
}

// Grid size for a grid-stride loop over `n` items with `threads` per block.
inline unsigned GridFor(int64_t n, int threads, int64_t max_blocks = 1 << 16) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

}  // namespace infernum::kernels::cuda

// Runs the statement list with `T` bound to the storage type of the float
// ElemType `et` (f32 / bf16 / f16); returns cudaErrorInvalidValue otherwise.
#define INFERNUM_DISPATCH_FLOAT(et, T, ...)            \
  switch (et) {                                        \
    case ::infernum::kernels::cuda::ElemType::kF32: {  \
      using T = float;                                 \
      __VA_ARGS__;                                     \
      break;                                           \
    }                                                  \
    case ::infernum::kernels::cuda::ElemType::kBF16: { \
      using T = __nv_bfloat16;                         \
      __VA_ARGS__;                                     \
      break;                                           \
    }                                                  \
    case ::infernum::kernels::cuda::ElemType::kF16: {  \
      using T = __half;                                \
      __VA_ARGS__;                                     \
      break;                                           \
    }                                                  \
    default:                                           \
      return cudaErrorInvalidValue;                    \
  }

// As above for the activation types the CUDA backend computes in (f32, bf16).
#define INFERNUM_DISPATCH_ACT(et, T, ...)              \
  switch (et) {                                        \
    case ::infernum::kernels::cuda::ElemType::kF32: {  \
      using T = float;                                 \
      __VA_ARGS__;                                     \
      break;                                           \
    }                                                  \
    case ::infernum::kernels::cuda::ElemType::kBF16: { \
      using T = __nv_bfloat16;                         \
      __VA_ARGS__;                                     \
      break;                                           \
    }                                                  \
    default:                                           \
      return cudaErrorInvalidValue;                    \
  }
