// Internal to the CPU backend: small f32 vector primitives the row-wise ops
// (norms, softmax, SiLU, attention) are built from, with one implementation
// per CpuIsa. All accumulate in f32; vector variants differ from the scalar
// ones only in summation order and in exp() rounding (< 2 ulp).
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_backend.h"

namespace infernum::kernels::cpu {

struct VecKernels {
  // Sum of x[i] * y[i].
  float (*dot)(const float* x, const float* y, int64_t n);
  // Sum of x[i]^2.
  float (*sum_squares)(const float* x, int64_t n);
  // Max of x[i] (-inf when n == 0).
  float (*max)(const float* x, int64_t n);
  // out[i] = exp(x[i] - shift); returns the sum of out. out may alias x.
  float (*exp_shift_sum)(const float* x, float shift, float* out, int64_t n);
  // out[i] = x[i] * s. out may alias x.
  void (*scale)(const float* x, float s, float* out, int64_t n);
  // out[i] = x[i] * s * w[i]. out may alias x.
  void (*scale_mul)(const float* x, float s, const float* w, float* out,
                    int64_t n);
  // y[i] += a * x[i].
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  // out[i] = a[i] + b[i]. out may alias a or b.
  void (*add)(const float* a, const float* b, float* out, int64_t n);
  // out[i] = g[i] / (1 + exp(-g[i])) * u[i].
  void (*silu_mul)(const float* g, const float* u, float* out, int64_t n);
};

// The kernels for `isa` (which the CPU must support).
const VecKernels& GetVecKernels(CpuIsa isa);

const VecKernels& ScalarVecKernels();  // vec_kernels_scalar.cc
const VecKernels& Avx2VecKernels();    // vec_kernels_avx2.cc
const VecKernels& Avx512VecKernels();  // vec_kernels_avx512.cc

}  // namespace infernum::kernels::cpu
