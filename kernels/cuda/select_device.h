// Internal device helpers for the sampling kernel (.cu files only): generic
// block reductions and scans, an order-preserving float key, and a radix
// select that finds where a prefix of the "most likely first" order reaches
// a count or a probability mass. Every function here is called by all
// threads of the block (blockDim.x a multiple of 32, at most 1024).
#pragma once

#include <climits>

#include "kernels/cuda/device_util.h"

namespace infernum::kernels::cuda {

using u64 = unsigned long long;

template <typename T>
__device__ __forceinline__ T WarpSumT(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// `scratch`: 32 T of shared memory.
template <typename T>
__device__ __forceinline__ T BlockSumT(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WarpSumT(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return WarpSumT(lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane]
                                                           : T(0));
}

// Exclusive prefix sum over threads in threadIdx order; *total gets the sum.
template <typename T>
__device__ __forceinline__ T BlockExclusiveSum(T v, T* scratch, T* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int num_warps = blockDim.x >> 5;
  T incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T t = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += t;
  }
  __syncthreads();
  if (lane == 31) scratch[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    T w = lane < num_warps ? scratch[lane] : T(0);
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const T t = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += t;
    }
    scratch[lane] = w;
  }
  __syncthreads();
  *total = scratch[num_warps - 1];
  return (warp > 0 ? scratch[warp - 1] : T(0)) + incl - v;
}

// Key whose ascending order is the descending order of v (v not NaN; -0 is
// treated as +0 by the caller adding 0.0f).
__device__ __forceinline__ uint32_t DescKey(float v) {
  const uint32_t bits = __float_as_uint(v);
  return ~((bits & 0x80000000u) ? ~bits : (bits | 0x80000000u));
}

__device__ __forceinline__ float KeyValue(uint32_t key) {
  const uint32_t asc = ~key;
  return __uint_as_float((asc & 0x80000000u) ? (asc & 0x7fffffffu) : ~asc);
}

// A prefix of the order (key ascending, then id ascending): element (key,
// id) is inside when key < cut.key, or key == cut.key and id < cut.id_limit.
struct Cut {
  uint32_t key;
  int32_t id_limit;
};
__device__ __forceinline__ Cut NoCut() { return {0xffffffffu, INT_MAX}; }
__device__ __forceinline__ bool Inside(const Cut& c, uint32_t key, int32_t id) {
  return key < c.key || (key == c.key && id < c.id_limit);
}

// exp((v - max) / temperature) in fixed point (2^40 = probability 1), so
// masses add associatively: results never depend on thread timing.
__device__ __forceinline__ u64 FixedWeight(float v, float max,
                                           float temperature) {
  const float w = expf((v - max) / temperature);
  return __double2ull_rd(static_cast<double>(w) * 1099511627776.0);
}

struct SelectShared {
  u64 hist[256];
  u64 scratch[32];
  u64 remaining;
  int bin;
  int id_limit;
};

// Thread 0 picks the histogram bin where the running quantity reaches
// sh.remaining, and leaves in sh.remaining what is still needed inside it.
__device__ __forceinline__ void PickBin(SelectShared& sh, u64 remaining) {
  if (threadIdx.x != 0) return;
  u64 before = 0;
  int chosen = -1, last = 0;
  for (int b = 0; b < 256 && chosen < 0; ++b) {
    if (sh.hist[b] == 0) continue;
    last = b;
    if (before + sh.hist[b] >= remaining) {
      chosen = b;
    } else {
      before += sh.hist[b];
    }
  }
  if (chosen < 0) {  // Target beyond the total (rounding): whole last bin.
    chosen = last;
    before -= sh.hist[last];
    remaining = before + sh.hist[last];
  }
  sh.bin = chosen;
  sh.remaining = remaining - before;
}

// Radix descent (four 8-bit passes, most significant first) to the key of
// the boundary element; *remaining becomes the quantity still needed among
// the elements with exactly that key.
template <bool kByMass>
__device__ uint32_t BoundaryKey(const float* x, int vocab, Cut eligible,
                                float max, float temperature, u64* remaining,
                                SelectShared& sh) {
  uint32_t prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) sh.hist[b] = 0;
    __syncthreads();
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
      const float v = x[j] + 0.0f;
      if (v == -INFINITY) continue;
      const uint32_t key = DescKey(v);
      if ((key & mask) != prefix || !Inside(eligible, key, j)) continue;
      atomicAdd(&sh.hist[(key >> shift) & 255],
                kByMass ? FixedWeight(v, max, temperature) : 1ull);
    }
    __syncthreads();
    PickBin(sh, *remaining);
    __syncthreads();
    prefix |= static_cast<uint32_t>(sh.bin) << shift;
    mask |= 0xffu << shift;
    *remaining = sh.remaining;
  }
  return prefix;
}

// id + 1 of the need-th eligible element (in id order) whose key is `key`;
// contiguous id ranges per thread and a block scan. need >= 1 and at least
// `need` such elements exist.
__device__ int32_t TieLimit(const float* x, int vocab, Cut eligible,
                            uint32_t key, u64 need, SelectShared& sh) {
  const int span = (vocab + blockDim.x - 1) / blockDim.x;
  const int lo = min(vocab, static_cast<int>(threadIdx.x) * span),
            hi = min(vocab, lo + span);
  const auto is_tied = [&](int j) {
    const float v = x[j] + 0.0f;
    return v != -INFINITY && DescKey(v) == key && Inside(eligible, key, j);
  };
  u64 local = 0;
  for (int j = lo; j < hi; ++j) local += is_tied(j);
  u64 total;
  u64 seen = BlockExclusiveSum(local, sh.scratch, &total);
  if (seen < need && need <= seen + local) {
    for (int j = lo; j < hi; ++j) {
      if (is_tied(j) && ++seen == need) {
        sh.id_limit = j + 1;
        break;
      }
    }
  }
  __syncthreads();
  return sh.id_limit;
}

// The shortest prefix, among finite elements inside `eligible`, whose
// quantity (1 per element, or FixedWeight when kByMass) reaches `target`
// (1 <= target <= the eligible total). Ties on the boundary value are cut by
// id: the radix descent, one counting pass, and (only when the boundary
// value is tied and cut) one ordered scan.
template <bool kByMass>
__device__ Cut SelectCut(const float* x, int vocab, Cut eligible, float max,
                         float temperature, u64 target, SelectShared& sh) {
  u64 remaining = target;
  const uint32_t key = BoundaryKey<kByMass>(x, vocab, eligible, max,
                                            temperature, &remaining, sh);
  // Elements equal to the boundary value all weigh the same.
  u64 local = 0;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    const float v = x[j] + 0.0f;
    if (v != -INFINITY && DescKey(v) == key && Inside(eligible, key, j))
      ++local;
  }
  const u64 equal = BlockSumT(local, sh.scratch);
  const u64 each =
      kByMass ? FixedWeight(KeyValue(key), max, temperature) : 1ull;
  u64 need = each == 0 ? equal : (remaining + each - 1) / each;
  if (need < 1) need = 1;
  // The whole tied group fits: keep it, but only as far as `eligible` does
  // (top-k may already have cut this value's ties by id).
  if (need >= equal) {
    return {key, key == eligible.key ? eligible.id_limit : INT_MAX};
  }
  return {key, TieLimit(x, vocab, eligible, key, need, sh)};
}

}  // namespace infernum::kernels::cuda
