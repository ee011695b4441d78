// Internal device helpers (for .cu files): (value, index) argmax reductions
// with "lowest index wins ties, NaN never wins" semantics.
#pragma once

#include <climits>

#include "kernels/cuda/device_util.h"

namespace infernum::kernels::cuda {

struct ArgmaxPair {
  float value;    // NaN when no element has been taken.
  int32_t index;  // INT_MAX when no element has been taken.
};

__device__ __forceinline__ ArgmaxPair EmptyArgmax() {
  return {__int_as_float(0x7fffffff), INT_MAX};
}

// True when a should be preferred over b.
__device__ __forceinline__ bool ArgmaxBetter(const ArgmaxPair& a,
                                             const ArgmaxPair& b) {
  if (isnan(a.value)) return false;
  if (isnan(b.value)) return true;
  return a.value > b.value || (a.value == b.value && a.index < b.index);
}

__device__ __forceinline__ void ArgmaxTake(ArgmaxPair& best, float v,
                                           int32_t i) {
  const ArgmaxPair c{v, i};
  if (ArgmaxBetter(c, best)) best = c;
}

__device__ __forceinline__ ArgmaxPair WarpArgmax(ArgmaxPair a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    ArgmaxPair other{__shfl_xor_sync(0xffffffffu, a.value, o),
                     __shfl_xor_sync(0xffffffffu, a.index, o)};
    if (ArgmaxBetter(other, a)) a = other;
  }
  return a;
}

// Every thread of the block calls; every thread gets the block's best.
// `scratch` holds 32 pairs of shared memory.
__device__ __forceinline__ ArgmaxPair BlockArgmax(ArgmaxPair a,
                                                  ArgmaxPair* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int num_warps = blockDim.x >> 5;
  a = WarpArgmax(a);
  __syncthreads();
  if (lane == 0) scratch[warp] = a;
  __syncthreads();
  return WarpArgmax(lane < num_warps ? scratch[lane] : EmptyArgmax());
}

}  // namespace infernum::kernels::cuda
