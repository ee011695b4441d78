// AVX2+FMA matmul kernel (see matmul_kernels.h); the same register-tile
// scheme as matmul_avx512.cc with 8-wide vectors: MR rows of x by NR rows of
// w as dot products over k, w widened exactly to f32 in registers (bf16 by
// shift/mask of packed pairs against the even/odd interleave of x, f16 by
// vcvtph2ps), f32 FMAs, panels of w reused across row groups. The k tail
// (< 16) is summed in scalar code. Only called when DetectCpuIsa() reports
// at least AVX2 (with FMA and F16C).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/matmul_kernels.h"
#include "kernels/dtype.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "kernels/cpu/avx2_util.h"
#include "kernels/cpu/matmul_tiling.h"

namespace infernum::kernels::cpu {
namespace {

constexpr int64_t kChunk = 16;            // k elements per main-loop step.
constexpr int64_t kPrefetchBytes = 1024;  // GEMV prefetch distance per w row.

struct Bf16Weights {
  using T = uint16_t;
  // lo = even elements, hi = odd elements of w[0, 16).
  static inline void Load(const T* w, __m256& lo, __m256& hi) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    hi = _mm256_castsi256_ps(
        _mm256_and_si256(v, _mm256_set1_epi32(0xffff0000u)));
  }
  static inline float Scalar(const T* w, int64_t i) { return Bf16ToF32(w[i]); }
};

struct F16Weights {
  using T = uint16_t;
  static inline void Load(const T* w, __m256& lo, __m256& hi) {
    lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
    hi = _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 8)));
  }
  static inline float Scalar(const T* w, int64_t i) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(w[i])));
  }
};

struct F32Weights {
  using T = float;
  static inline void Load(const T* w, __m256& lo, __m256& hi) {
    lo = _mm256_loadu_ps(w);
    hi = _mm256_loadu_ps(w + 8);
  }
  static inline float Scalar(const T* w, int64_t i) { return w[i]; }
};

// out[i0 + i, j0 + j] for i < MR, j < NR.
template <int MR, int NR, class W>
void Tile(const MatmulJob& job, const typename W::T* w, int64_t i0,
          int64_t j0) {
  const int64_t k = job.k;
  const int64_t k_main = k / kChunk * kChunk;
  const float* x[MR];
  const typename W::T* wr[NR];
  __m256 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) x[i] = job.x + (i0 + i) * job.x_stride;
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) wr[j] = w + (j0 + j) * k;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  for (int64_t kk = 0; kk < k_main; kk += kChunk) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      if constexpr (MR == 1) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[j] + kk) + kPrefetchBytes,
                     _MM_HINT_T0);
      }
      __m256 w0, w1;
      W::Load(wr[j] + kk, w0, w1);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        acc[i][j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[i] + kk), acc[i][j]);
        acc[i][j] =
            _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[i] + kk + 8), acc[i][j]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* out = job.out + (i0 + i) * job.n + j0;
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      float sum = Avx2HorizontalSum(acc[i][j]);
      for (int64_t kk = k_main; kk < k; ++kk) {
        sum += x[i][kk] * W::Scalar(wr[j], kk);
      }
      out[j] = job.accumulate ? out[j] + sum : sum;
    }
  }
}

struct Avx2Tiles {
  static constexpr int64_t kPanelBytes = 128 << 10;
  static constexpr int kWideCols = 4;
  static constexpr int kMidCols = 2;
  static constexpr bool kPrefetchNextPanel = false;
  template <int R, int NR, class W>
  static void Run(const MatmulJob& job, const typename W::T* w, int64_t i0,
                  int64_t j0) {
    Tile<R, NR, W>(job, w, i0, j0);
  }
};

void InterleaveX(const float* x, int64_t m, int64_t k, float* out) {
  const int64_t full = k / kChunk * kChunk;
  for (int64_t i = 0; i < m; ++i) {
    const float* src = x + i * k;
    float* dst = out + i * k;
    for (int64_t c = 0; c < full; c += kChunk) {
      const __m256 a = _mm256_loadu_ps(src + c);
      const __m256 b = _mm256_loadu_ps(src + c + 8);
      // Per 128-bit lane: (a0 a2 b0 b2 | a4 a6 b4 b6); then order the lanes.
      const __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
      const __m256 odd = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
      _mm256_storeu_ps(dst + c,
                       _mm256_castpd_ps(_mm256_permute4x64_pd(
                           _mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0))));
      _mm256_storeu_ps(dst + c + 8,
                       _mm256_castpd_ps(_mm256_permute4x64_pd(
                           _mm256_castps_pd(odd), _MM_SHUFFLE(3, 1, 2, 0))));
    }
    for (int64_t c = full; c < k; ++c) dst[c] = src[c];
  }
}

void Run(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  switch (job.w_dtype) {
    case DType::kBF16:
      return matmul_tiling::RunRange<Avx2Tiles, Bf16Weights>(job, n_begin,
                                                             n_end);
    case DType::kF16:
      return matmul_tiling::RunRange<Avx2Tiles, F16Weights>(job, n_begin,
                                                            n_end);
    default:
      return matmul_tiling::RunRange<Avx2Tiles, F32Weights>(job, n_begin,
                                                            n_end);
  }
}

}  // namespace

const MatmulKernel& Avx2MatmulKernel() {
  static constexpr MatmulKernel kKernel = {16, Run, InterleaveX};
  return kKernel;
}

}  // namespace infernum::kernels::cpu

#pragma GCC pop_options
