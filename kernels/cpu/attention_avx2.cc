// AVX2+FMA attention inner kernels (VecKernels::attn_scores / attn_values)
// for f32 or bf16 keys and values. Only called when DetectCpuIsa() reports
// at least AVX2.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/vec_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "kernels/cpu/avx2_util.h"

namespace infernum::kernels::cpu {
namespace {

struct F32Kv {
  using T = float;
  static __m256 Load(const T* p, int64_t left) { return Avx2LoadF32(p, left); }
};
struct Bf16Kv {
  using T = uint16_t;
  static __m256 Load(const T* p, int64_t left) { return Avx2LoadBf16(p, left); }
};

// Up to 4 heads at a time share each load of a key.
template <class Kv>
void Scores(const AttnBlock& b, float* scores, int64_t score_stride) {
  for (int64_t t = 0; t < b.count; ++t) {
    const auto* k = static_cast<const typename Kv::T*>(b.kv) + t * b.kv_stride;
    for (int64_t h0 = 0; h0 < b.heads; h0 += 4) {
      const int64_t nh = std::min<int64_t>(4, b.heads - h0);
      const float* q = b.q + h0 * b.dim;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int64_t d = 0; d < b.dim; d += 8) {
        const __m256 kv = Kv::Load(k + d, b.dim - d);
        for (int64_t h = 0; h < nh; ++h) {
          acc[h] = _mm256_fmadd_ps(Avx2LoadF32(q + h * b.dim + d, b.dim - d),
                                   kv, acc[h]);
        }
      }
      for (int64_t h = 0; h < nh; ++h) {
        scores[(h0 + h) * score_stride + t] =
            b.scale * Avx2HorizontalSum(acc[h]);
      }
    }
  }
}

// Accumulators for up to 4 heads x 8 dims stay in registers over all keys.
template <class Kv>
void Values(const float* p, int64_t p_stride, const AttnBlock& b, float* acc) {
  const auto* kv = static_cast<const typename Kv::T*>(b.kv);
  for (int64_t d = 0; d < b.dim; d += 8) {
    const int64_t left = b.dim - d;
    for (int64_t h0 = 0; h0 < b.heads; h0 += 4) {
      const int64_t nh = std::min<int64_t>(4, b.heads - h0);
      const float* ph = p + h0 * p_stride;
      __m256 a[4];
      for (int64_t h = 0; h < nh; ++h) {
        a[h] = Avx2LoadF32(acc + (h0 + h) * b.dim + d, left);
      }
      for (int64_t t = 0; t < b.count; ++t) {
        const __m256 v = Kv::Load(kv + t * b.kv_stride + d, left);
        for (int64_t h = 0; h < nh; ++h) {
          a[h] = _mm256_fmadd_ps(_mm256_set1_ps(ph[h * p_stride + t]), v, a[h]);
        }
      }
      for (int64_t h = 0; h < nh; ++h) {
        Avx2StoreF32(acc + (h0 + h) * b.dim + d, left, a[h]);
      }
    }
  }
}

}  // namespace

void Avx2AttnScores(const AttnBlock& b, float* scores, int64_t score_stride) {
  if (b.kv_bf16) return Scores<Bf16Kv>(b, scores, score_stride);
  Scores<F32Kv>(b, scores, score_stride);
}

void Avx2AttnValues(const float* p, int64_t p_stride, const AttnBlock& b,
                    float* acc) {
  if (b.kv_bf16) return Values<Bf16Kv>(p, p_stride, b, acc);
  Values<F32Kv>(p, p_stride, b, acc);
}

}  // namespace infernum::kernels::cpu

#pragma GCC pop_options
