// AVX-512 matmul kernel (see matmul_kernels.h).
//
// The kernel computes register tiles of MR rows of x by NR rows of w as dot
// products over the whole of k: MR*NR zmm accumulators, w widened exactly to
// f32 in registers (bf16: shift/mask of packed pairs, matching the even/odd
// interleave of x; f16: vcvtph2ps), f32 FMAs, one horizontal sum per output
// at the end (for 4x4 tiles, 16 sums at once in the same order). A thread walks
// its output columns in panels of w small enough to stay in L2 and reuses each
// panel for every group of MR rows of x, so a batch of m rows reads w from
// memory once. Compiled with per-function target attributes, so this file links
// into binaries that run on any x86-64 CPU; it is only called when
// DetectCpuIsa() reports AVX-512.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/matmul_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
// GCC 12's _mm512_undefined_* trips -Wmaybe-uninitialized when inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/avx512_reduce.h"
#include "kernels/cpu/matmul_tiling.h"

namespace infernum::kernels::cpu {
namespace {

constexpr int64_t kChunk = 32;  // k elements per main-loop step.
// Software prefetch distance along each w row: far ahead when streaming w
// from memory (GEMV), short when the panel comes from L2.
constexpr int64_t kGemvPrefetchBytes = 1024;
constexpr int64_t kGemmPrefetchBytes = 256;

// Widens packed bf16 pairs: lo = even elements, hi = odd elements.
struct Bf16Weights {
  using T = uint16_t;
  static inline void Load(const T* w, __m512& lo, __m512& hi) {
    const __m512i v = _mm512_loadu_si512(w);
    lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    hi = _mm512_castsi512_ps(
        _mm512_and_si512(v, _mm512_set1_epi32(0xffff0000u)));
  }
  static inline __m512 LoadTail(const T* w, __mmask16 mask) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, w));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
};

struct F16Weights {
  using T = uint16_t;
  static inline void Load(const T* w, __m512& lo, __m512& hi) {
    lo = _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
    hi = _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16)));
  }
  static inline __m512 LoadTail(const T* w, __mmask16 mask) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w));
  }
};

struct F32Weights {
  using T = float;
  static inline void Load(const T* w, __m512& lo, __m512& hi) {
    lo = _mm512_loadu_ps(w);
    hi = _mm512_loadu_ps(w + 16);
  }
  static inline __m512 LoadTail(const T* w, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, w);
  }
};

// out[i0 + i, j0 + j] for i < MR, j < NR.
template <int MR, int NR, class W>
void Tile(const MatmulJob& job, const typename W::T* w, int64_t i0,
          int64_t j0) {
  const int64_t k = job.k;
  const int64_t k_main = k / kChunk * kChunk;
  const float* x[MR];
  const typename W::T* wr[NR];
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) x[i] = job.x + (i0 + i) * job.x_stride;
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) wr[j] = w + (j0 + j) * k;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  for (int64_t kk = 0; kk < k_main; kk += kChunk) {
    __m512 x0[MR], x1[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      x0[i] = _mm512_loadu_ps(x[i] + kk);
      x1[i] = _mm512_loadu_ps(x[i] + kk + 16);
    }
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      constexpr int64_t kAhead =
          MR == 1 ? kGemvPrefetchBytes : kGemmPrefetchBytes;
      const char* ahead = reinterpret_cast<const char*>(wr[j] + kk) + kAhead;
      _mm_prefetch(ahead, _MM_HINT_T0);
      if constexpr (sizeof(typename W::T) == 4)
        _mm_prefetch(ahead + 64, _MM_HINT_T0);
      __m512 w0, w1;
      W::Load(wr[j] + kk, w0, w1);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        acc[i][j] = _mm512_fmadd_ps(w0, x0[i], acc[i][j]);
        acc[i][j] = _mm512_fmadd_ps(w1, x1[i], acc[i][j]);
      }
    }
  }
  for (int64_t kk = k_main; kk < k; kk += 16) {
    const int64_t left = k - kk;
    const __mmask16 mask =
        left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
    __m512 x0[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) x0[i] = _mm512_maskz_loadu_ps(mask, x[i] + kk);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m512 w0 = W::LoadTail(wr[j] + kk, mask);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        acc[i][j] = _mm512_fmadd_ps(w0, x0[i], acc[i][j]);
      }
    }
  }
  avx512::StoreTile<MR, NR>(job, acc, i0, j0);
}

struct Avx512Tiles {
  static constexpr int64_t kPanelBytes = 192 << 10;
  static constexpr int kWideCols = 8;
  static constexpr int kMidCols = 4;
  static constexpr bool kPrefetchNextPanel = false;
  template <int R, int NR, class W>
  static void Run(const MatmulJob& job, const typename W::T* w, int64_t i0,
                  int64_t j0) {
    Tile<R, NR, W>(job, w, i0, j0);
  }
};

void InterleaveX(const float* x, int64_t m, int64_t k, float* out) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                         22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const int64_t full = k / kChunk * kChunk;
  for (int64_t i = 0; i < m; ++i) {
    const float* src = x + i * k;
    float* dst = out + i * k;
    for (int64_t c = 0; c < full; c += kChunk) {
      const __m512 a = _mm512_loadu_ps(src + c);
      const __m512 b = _mm512_loadu_ps(src + c + 16);
      _mm512_storeu_ps(dst + c, _mm512_permutex2var_ps(a, even, b));
      _mm512_storeu_ps(dst + c + 16, _mm512_permutex2var_ps(a, odd, b));
    }
    for (int64_t c = full; c < k; ++c) dst[c] = src[c];
  }
}

void Run(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  switch (job.w_dtype) {
    case DType::kBF16:
      return matmul_tiling::RunRange<Avx512Tiles, Bf16Weights>(job, n_begin,
                                                               n_end);
    case DType::kF16:
      return matmul_tiling::RunRange<Avx512Tiles, F16Weights>(job, n_begin,
                                                              n_end);
    default:
      return matmul_tiling::RunRange<Avx512Tiles, F32Weights>(job, n_begin,
                                                              n_end);
  }
}

}  // namespace

const MatmulKernel& Avx512MatmulKernel() {
  static constexpr MatmulKernel kKernel = {16, Run, InterleaveX};
  return kKernel;
}

}  // namespace infernum::kernels::cpu

#pragma GCC diagnostic pop
#pragma GCC pop_options
