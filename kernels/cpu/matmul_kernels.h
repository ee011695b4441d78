// Internal to the CPU backend: the per-ISA matmul kernels behind Matmul.
//
// matmul.cc validates, prepares x (see MatmulJob::x) and splits the output
// columns across the pool; a kernel computes one column range for all rows:
//   out[i, j] (+)= sum_k x[i, k] * w[j, k]   for i < m, j in [n_begin, n_end),
// with w converted exactly to f32 and f32 accumulation.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace infernum::kernels::cpu {

struct MatmulJob {
  // [m, x_stride] f32. For bf16 weights with a kernel that has
  // interleave_bf16_x, x as that function rewrote it.
  const float* x = nullptr;
  // bf16-dot kernels only: x rounded to bf16, [m, x_stride], or, for a
  // kernel with pack_x_bf16, as that function wrote it.
  const uint16_t* x_bf16 = nullptr;
  int64_t x_stride = 0;
  int64_t m = 0, k = 0, n = 0;
  const void* w = nullptr;  // [n, k] f32/bf16/f16.
  DType w_dtype = DType::kF32;
  float* out = nullptr;  // [m, n] f32.
  bool accumulate = false;
};

struct MatmulKernel {
  // Output columns are handed out in multiples of this (except the last).
  int64_t n_granule = 1;
  void (*run)(const MatmulJob& job, int64_t n_begin, int64_t n_end) = nullptr;
  // Optional, for bf16 weights: copies x ([m, k]) to out reordering every
  // full chunk of C columns (C = 32 for AVX-512, 16 for AVX2) as the chunk's
  // even-indexed elements then its odd-indexed ones, the order in which the
  // kernel widens packed bf16 pairs; a shorter tail keeps its order.
  void (*interleave_bf16_x)(const float* x, int64_t m, int64_t k,
                            float* out) = nullptr;
  // bf16-dot kernels: out[i] = F32ToBf16(x[i]) for i < count (nearest even;
  // NaN stays NaN), which the caller stores in MatmulJob::x_bf16.
  void (*round_x_bf16)(const float* x, int64_t count, uint16_t* out) = nullptr;
  // bf16-dot kernels, instead of round_x_bf16: writes rows [row_begin,
  // row_end) of x ([m, k]) rounded the same way, in the kernel's own layout
  // of m * PackedXStride(k) elements (rows may be written in any split).
  void (*pack_x_bf16)(const float* x, int64_t m, int64_t k, int64_t row_begin,
                      int64_t row_end, uint16_t* out) = nullptr;
};

// Elements per row of a pack_x_bf16 layout: k rounded up to 32.
constexpr int64_t PackedXStride(int64_t k) { return (k + 31) / 32 * 32; }

const MatmulKernel& ScalarMatmulKernel();  // matmul.cc
const MatmulKernel& Avx2MatmulKernel();    // matmul_avx2.cc
const MatmulKernel& Avx512MatmulKernel();  // matmul_avx512.cc

// bf16-dot kernels (CpuMatmulPrecision::kBf16, bf16 weights only), for
// x_bf16 (x rounded to bf16) and bf16 w:
//   out[i, j] (+)= the dot product of x_bf16[i, :] and w[j, :]
// with the arithmetic of AVX512-BF16's VDPBF16PS: k is cut into chunks of 32
// elements (the last one zero-filled); lane l < 16 of an f32 accumulator
// takes each chunk's pair (2l + 1, 2l) as two f32 FMAs of exact bf16
// products, odd element first, with denormal inputs read as zero and
// denormal results flushed to zero (DAZ, FTZ); the 16 lanes are then summed
// in _mm512_reduce_add_ps's order (avx512_reduce.h). Every implementation
// below gives the same bits for every row whatever m and the tiling.
const MatmulKernel& ScalarBf16DotKernel();  // matmul_bf16dot_scalar.cc
const MatmulKernel& Avx2Bf16DotKernel();    // matmul_bf16dot_avx2.cc
// vdpbf16ps (needs AVX512-BF16) and its AVX-512F emulation.
const MatmulKernel& Avx512Bf16DotKernel();          // matmul_bf16dot_avx512.cc
const MatmulKernel& Avx512Bf16DotEmulatedKernel();  // matmul_bf16dot_avx512.cc

}  // namespace infernum::kernels::cpu
