// Portable scalar VecKernels (the fallback for CPUs without AVX2+FMA).
#include <cmath>
#include <limits>

#include "kernels/cpu/vec_kernels.h"
#include "kernels/dtype.h"

namespace infernum::kernels::cpu {
namespace {

float Dot(const float* x, const float* y, int64_t n) {
  float acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) acc[j] += x[i + j] * y[i + j];
  }
  for (; i < n; ++i) acc[0] += x[i] * y[i];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

float SumSquares(const float* x, int64_t n) { return Dot(x, x, n); }

float Max(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

float ExpShiftSum(const float* x, float shift, float* out, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = std::exp(x[i] - shift);
    sum += out[i];
  }
  return sum;
}

void Scale(const float* x, float s, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

void ScaleMul(const float* x, float s, const float* w, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s * w[i];
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void AddVec(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void SiluMul(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

int64_t Argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j) {
    if (x[j] > x[best] || (std::isnan(x[best]) && !std::isnan(x[j]))) best = j;
  }
  return best;
}

// Element i of a key / value vector as f32.
inline float KvAt(const AttnBlock& b, int64_t t, int64_t i) {
  const int64_t index = t * b.kv_stride + i;
  return b.kv_bf16 ? Bf16ToF32(static_cast<const uint16_t*>(b.kv)[index])
                   : static_cast<const float*>(b.kv)[index];
}

void AttnScores(const AttnBlock& b, float* scores, int64_t score_stride) {
  for (int64_t t = 0; t < b.count; ++t) {
    for (int64_t h = 0; h < b.heads; ++h) {
      const float* q = b.q + h * b.dim;
      float acc[4] = {0, 0, 0, 0};
      for (int64_t i = 0; i < b.dim; ++i) acc[i % 4] += q[i] * KvAt(b, t, i);
      scores[h * score_stride + t] =
          b.scale * ((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
  }
}

void AttnValues(const float* p, int64_t p_stride, const AttnBlock& b,
                float* acc) {
  for (int64_t t = 0; t < b.count; ++t) {
    for (int64_t h = 0; h < b.heads; ++h) {
      const float weight = p[h * p_stride + t];
      float* out = acc + h * b.dim;
      for (int64_t i = 0; i < b.dim; ++i) out[i] += weight * KvAt(b, t, i);
    }
  }
}

}  // namespace

void ScalarToBf16(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = F32ToBf16(x[i]);
}

const VecKernels& ScalarVecKernels() {
  static constexpr VecKernels kKernels = {.dot = Dot,
                                          .sum_squares = SumSquares,
                                          .max = Max,
                                          .exp_shift_sum = ExpShiftSum,
                                          .scale = Scale,
                                          .scale_mul = ScaleMul,
                                          .axpy = Axpy,
                                          .add = AddVec,
                                          .silu_mul = SiluMul,
                                          .to_bf16 = ScalarToBf16,
                                          .argmax = Argmax,
                                          .attn_scores = AttnScores,
                                          .attn_values = AttnValues};
  return kKernels;
}

const VecKernels& GetVecKernels(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return Avx512VecKernels();
    case CpuIsa::kAvx2:
      return Avx2VecKernels();
    case CpuIsa::kScalar:
      break;
  }
  return ScalarVecKernels();
}

}  // namespace infernum::kernels::cpu
