// Internal to the CPU backend: small f32 vector primitives the row-wise ops
// (norms, softmax, SiLU, attention) are built from, with one implementation
// per CpuIsa. All accumulate in f32; vector variants differ from the scalar
// ones only in summation order and in exp() rounding (< 2 ulp).
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_backend.h"

namespace infernum::kernels::cpu {

// `count` key (or value) vectors of `dim` elements (f32, or bf16 when
// kv_bf16), `kv_stride` elements apart, attended by `heads` f32 query vectors
// stored contiguously at q.
struct AttnBlock {
  const float* q;
  int64_t heads, dim;
  const void* kv;  // Keys for attn_scores, values for attn_values.
  bool kv_bf16;
  int64_t kv_stride, count;
  float scale;
};

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
  // out[i] = F32ToBf16(x[i]) (dtype.h: nearest even, NaN stays NaN).
  void (*to_bf16)(const float* x, uint16_t* out, int64_t n);
  // Lowest index of the largest non-NaN x[i]; 0 when n == 0 or all are NaN.
  int64_t (*argmax)(const float* x, int64_t n);
  // Attention scores of `heads` query vectors against `count` keys:
  // scores[h * score_stride + t] = scale * dot(q + h * dim, kv + t * kv_stride)
  // over `dim` elements, for h < heads, t < count.
  void (*attn_scores)(const AttnBlock& b, float* scores, int64_t score_stride);
  // Probability-weighted values: acc[h * dim + d] +=
  // sum_t p[h * p_stride + t] * kv[t * kv_stride + d], h < heads, t < count.
  void (*attn_values)(const float* p, int64_t p_stride, const AttnBlock& b,
                      float* acc);
};

// The kernels for `isa` (which the CPU must support).
const VecKernels& GetVecKernels(CpuIsa isa);

const VecKernels& ScalarVecKernels();  // vec_kernels_scalar.cc
// The scalar to_bf16 (also AVX2's).
void ScalarToBf16(const float* x, uint16_t* out, int64_t n);
const VecKernels& Avx2VecKernels();    // vec_kernels_avx2.cc
const VecKernels& Avx512VecKernels();  // vec_kernels_avx512.cc

// The attention kernels of the SIMD tables (attention_avx512.cc,
// attention_avx2.cc).
void Avx512AttnScores(const AttnBlock& b, float* scores, int64_t score_stride);
void Avx512AttnValues(const float* p, int64_t p_stride, const AttnBlock& b,
                      float* acc);
void Avx2AttnScores(const AttnBlock& b, float* scores, int64_t score_stride);
void Avx2AttnValues(const float* p, int64_t p_stride, const AttnBlock& b,
                    float* acc);

}  // namespace infernum::kernels::cpu
