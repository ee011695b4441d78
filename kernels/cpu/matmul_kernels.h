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
};

const MatmulKernel& ScalarMatmulKernel();  // matmul.cc
const MatmulKernel& Avx2MatmulKernel();    // matmul_avx2.cc
const MatmulKernel& Avx512MatmulKernel();  // matmul_avx512.cc

}  // namespace infernum::kernels::cpu
