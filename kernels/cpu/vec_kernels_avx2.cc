// AVX2+FMA VecKernels (see vec_kernels.h). Per-function target attributes via
// #pragma GCC target: this file links into binaries for any x86-64 CPU and
// is only called when DetectCpuIsa() reports at least AVX2.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/vec_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "kernels/cpu/avx2_util.h"

namespace infernum::kernels::cpu {
namespace {

// exp(x) to ~1 ulp: Cody-Waite reduction x = n ln2 + r, degree-7 Taylor
// polynomial for e^r, 2^n built in the exponent field. Inputs are clamped to
// the normal range and the ends patched: 0 below it, inf above; NaN stays.
inline __m256 Exp(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3365f), hi = _mm256_set1_ps(88.3762f);
  const __m256 xc =
      _mm256_max_ps(lo, _mm256_min_ps(hi, x));  // NaN passes through.
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  e = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), e);
  return _mm256_blendv_ps(
      e, _mm256_set1_ps(std::numeric_limits<float>::infinity()),
      _mm256_cmp_ps(x, _mm256_set1_ps(88.7228f), _CMP_GT_OQ));
}

inline __m256 Load(const float* p, int64_t left) {
  return Avx2LoadF32(p, left);
}
inline void Store(float* p, int64_t left, __m256 v) {
  Avx2StoreF32(p, left, v);
}

float Dot(const float* x, const float* y, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 =
        _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8),
                           _mm256_loadu_ps(y + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16),
                           _mm256_loadu_ps(y + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24),
                           _mm256_loadu_ps(y + i + 24), acc3);
  }
  for (; i < n; i += 8) {
    acc0 = _mm256_fmadd_ps(Load(x + i, n - i), Load(y + i, n - i), acc0);
  }
  return Avx2HorizontalSum(
      _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

float SumSquares(const float* x, int64_t n) { return Dot(x, x, n); }

float Max(const float* x, int64_t n) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  __m256 m = _mm256_set1_ps(neg_inf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  float result = _mm_cvtss_f32(s);
  for (; i < n; ++i) result = x[i] > result ? x[i] : result;
  return result;
}

float ExpShiftSum(const float* x, float shift, float* out, int64_t n) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 mask = _mm256_castsi256_ps(Avx2TailMask(n - i));
    const __m256 e = Exp(_mm256_sub_ps(Load(x + i, n - i), s));
    Store(out + i, n - i, e);
    sum = _mm256_add_ps(sum, _mm256_and_ps(mask, e));
  }
  return Avx2HorizontalSum(sum);
}

void Scale(const float* x, float s, float* out, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  for (int64_t i = 0; i < n; i += 8) {
    Store(out + i, n - i, _mm256_mul_ps(Load(x + i, n - i), sv));
  }
}

void ScaleMul(const float* x, float s, const float* w, float* out, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 v = _mm256_mul_ps(Load(x + i, n - i), sv);
    Store(out + i, n - i, _mm256_mul_ps(v, Load(w + i, n - i)));
  }
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  for (int64_t i = 0; i < n; i += 8) {
    Store(y + i, n - i,
          _mm256_fmadd_ps(av, Load(x + i, n - i), Load(y + i, n - i)));
  }
}

void AddVec(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    Store(out + i, n - i,
          _mm256_add_ps(Load(a + i, n - i), Load(b + i, n - i)));
  }
}

void SiluMul(const float* g, const float* u, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 gv = Load(g + i, n - i);
    const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), gv));
    const __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, e));
    Store(out + i, n - i, _mm256_mul_ps(silu, Load(u + i, n - i)));
  }
}

// Pass 1: the max over non-NaN lanes (vmaxps returns its second operand when
// either is NaN). Pass 2: the first element equal to it.
int64_t Argmax(const float* x, int64_t n) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  __m256 m = _mm256_set1_ps(neg_inf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  float best = _mm_cvtss_f32(s);
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  const __m256 bv = _mm256_set1_ps(best);
  for (i = 0; i + 8 <= n; i += 8) {
    const int eq = _mm256_movemask_ps(
        _mm256_cmp_ps(_mm256_loadu_ps(x + i), bv, _CMP_EQ_OQ));
    if (eq != 0) return i + __builtin_ctz(eq);
  }
  for (; i < n; ++i) {
    if (x[i] == best) return i;
  }
  return 0;
}

}  // namespace

const VecKernels& Avx2VecKernels() {
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
                                          .attn_scores = Avx2AttnScores,
                                          .attn_values = Avx2AttnValues};
  return kKernels;
}

}  // namespace infernum::kernels::cpu

#pragma GCC pop_options
