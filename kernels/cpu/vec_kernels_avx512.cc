// AVX-512 VecKernels (see vec_kernels.h). Per-function target attributes via
// #pragma GCC target: this file links into binaries for any x86-64 CPU and
// is only called when DetectCpuIsa() reports AVX-512.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/vec_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
// GCC 12's _mm512_undefined_* trips -W(maybe-)uninitialized when inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/avx512_round_bf16.h"

namespace infernum::kernels::cpu {
namespace {

inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff)
                    : static_cast<__mmask16>((1u << left) - 1);
}

// exp(x) to ~1 ulp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite), e^r by its
// degree-7 Taylor polynomial, then scalef by 2^n, which also yields 0 / inf
// on underflow / overflow and keeps NaN.
inline __m512 Exp(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(
      _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

float Dot(const float* x, const float* y, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 =
        _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16),
                           _mm512_loadu_ps(y + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32),
                           _mm512_loadu_ps(y + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48),
                           _mm512_loadu_ps(y + i + 48), acc3);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i),
                           _mm512_maskz_loadu_ps(m, y + i), acc0);
  }
  return _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

float SumSquares(const float* x, int64_t n) { return Dot(x, x, n); }

float Max(const float* x, int64_t n) {
  const __m512 neg_inf =
      _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m0 = neg_inf, m1 = neg_inf;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < n; i += 16) {
    m0 = _mm512_max_ps(m0,
                       _mm512_mask_loadu_ps(neg_inf, TailMask(n - i), x + i));
  }
  return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

float ExpShiftSum(const float* x, float shift, float* out, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s));
    _mm512_mask_storeu_ps(out + i, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return _mm512_reduce_add_ps(sum);
}

void Scale(const float* x, float s, float* out, int64_t n) {
  const __m512 sv = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m,
                          _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv));
  }
}

void ScaleMul(const float* x, float s, const float* w, float* out, int64_t n) {
  const __m512 sv = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv);
    _mm512_mask_storeu_ps(out + i, m,
                          _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
  }
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 r = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i),
                                     _mm512_maskz_loadu_ps(m, y + i));
    _mm512_mask_storeu_ps(y + i, m, r);
  }
}

void AddVec(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i),
                                        _mm512_maskz_loadu_ps(m, b + i)));
  }
}

void ToBf16(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(out + i),
        avx512::RoundToBf16(_mm512_castps_si512(_mm512_loadu_ps(x + i))));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(out + i, m,
                             avx512::RoundToBf16(_mm512_castps_si512(
                                 _mm512_maskz_loadu_ps(m, x + i))));
  }
}

void SiluMul(const float* g, const float* u, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), gv));
    const __m512 silu = _mm512_div_ps(gv, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(out + i, m,
                          _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

// Pass 1: the max over non-NaN lanes (vmaxps returns its second operand when
// either is NaN). Pass 2: the first lane equal to it.
int64_t Argmax(const float* x, int64_t n) {
  const __m512 neg_inf =
      _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m0 = neg_inf, m1 = neg_inf;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0);
    m1 = _mm512_max_ps(_mm512_loadu_ps(x + i + 16), m1);
  }
  for (; i < n; i += 16) {
    m0 = _mm512_max_ps(_mm512_mask_loadu_ps(neg_inf, TailMask(n - i), x + i),
                       m0);
  }
  const __m512 best =
      _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
  for (i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __mmask16 eq = _mm512_mask_cmp_ps_mask(
        m, _mm512_maskz_loadu_ps(m, x + i), best, _CMP_EQ_OQ);
    if (eq != 0) return i + __builtin_ctz(eq);
  }
  return 0;
}

}  // namespace

const VecKernels& Avx512VecKernels() {
  static constexpr VecKernels kKernels = {.dot = Dot,
                                          .sum_squares = SumSquares,
                                          .max = Max,
                                          .exp_shift_sum = ExpShiftSum,
                                          .scale = Scale,
                                          .scale_mul = ScaleMul,
                                          .axpy = Axpy,
                                          .add = AddVec,
                                          .silu_mul = SiluMul,
                                          .to_bf16 = ToBf16,
                                          .argmax = Argmax,
                                          .attn_scores = Avx512AttnScores,
                                          .attn_values = Avx512AttnValues};
  return kKernels;
}

}  // namespace infernum::kernels::cpu

#pragma GCC diagnostic pop
#pragma GCC pop_options
