// AVX-512 bf16-dot matmul kernels (see matmul_kernels.h): one with AVX512-BF16
// `vdpbf16ps`, and an exact emulation of it with AVX-512F FMAs for CPUs
// without that extension.
//
// Register tiles of MR rows of x by NR rows of w, one zmm accumulator per
// output; each 32-element chunk of k is one 64-byte load of x and of w (bf16
// pairs, no reordering) and one vdpbf16ps per output. The emulation widens
// each pair's odd and even elements exactly (mask / shift) and does the two
// FMAs in vdpbf16ps's order with MXCSR's DAZ and FTZ set, which is what
// vdpbf16ps does internally (products of two bf16 values are exact in f32, so
// each FMA rounds once, as it does). The final horizontal sums run with the
// caller's MXCSR in both. Compiled with per-function target attributes and
// only called when the CPU has the instructions (DetectCpuIsa,
// CpuHasAvx512Bf16).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/matmul_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")
// GCC 12's _mm512_undefined_* trips -Wmaybe-uninitialized when inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/avx512_reduce.h"
#include "kernels/cpu/matmul_tiling.h"

namespace infernum::kernels::cpu {
namespace {

constexpr int64_t kChunk = 32;  // bf16 elements per zmm.
constexpr int64_t kGemvPrefetchBytes = 1024;
constexpr int64_t kGemmPrefetchBytes = 256;
constexpr unsigned kDazFtz = 0x8040;  // MXCSR DAZ | FTZ.

// acc lane l += x pair l . w pair l, as vdpbf16ps.
struct HardwareDot {
  static constexpr bool kNeedsDazFtz = false;
  static inline __m512 Step(__m512 acc, __m512i x, __m512i w) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(x),
                            reinterpret_cast<__m512bh>(w));
  }
};

// The same with f32 FMAs (run with DAZ and FTZ set).
struct EmulatedDot {
  static constexpr bool kNeedsDazFtz = true;
  static inline __m512 Step(__m512 acc, __m512i x, __m512i w) {
    const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    acc = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(x, high)),
                          _mm512_castsi512_ps(_mm512_and_si512(w, high)), acc);
    return _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(x, 16)),
                           _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)), acc);
  }
};

// Sets MXCSR's DAZ and FTZ for its lifetime when Dot needs them.
template <class Dot>
class DazFtzScope {
 public:
  DazFtzScope() {
    if constexpr (Dot::kNeedsDazFtz) {
      saved_ = _mm_getcsr();
      _mm_setcsr(saved_ | kDazFtz);
    }
  }
  ~DazFtzScope() {
    if constexpr (Dot::kNeedsDazFtz) _mm_setcsr(saved_);
  }
  DazFtzScope(const DazFtzScope&) = delete;
  DazFtzScope& operator=(const DazFtzScope&) = delete;

 private:
  unsigned saved_ = 0;
};

// acc[i][j] over all of k for a tile at rows x[i], w rows wr[j].
template <int MR, int NR, class Dot>
void Accumulate(const MatmulJob& job, const uint16_t* const (&x)[MR],
                const uint16_t* const (&wr)[NR], __m512 (&acc)[MR][NR]) {
  const DazFtzScope<Dot> scope;
  const int64_t k = job.k;
  const int64_t k_main = k / kChunk * kChunk;
  for (int64_t kk = 0; kk < k_main; kk += kChunk) {
    __m512i xv[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) xv[i] = _mm512_loadu_si512(x[i] + kk);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      constexpr int64_t kAhead =
          MR == 1 ? kGemvPrefetchBytes : kGemmPrefetchBytes;
      _mm_prefetch(reinterpret_cast<const char*>(wr[j] + kk) + kAhead,
                   _MM_HINT_T0);
      const __m512i wv = _mm512_loadu_si512(wr[j] + kk);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) acc[i][j] = Dot::Step(acc[i][j], xv[i], wv);
    }
  }
  if (k_main < k) {
    const __mmask32 mask = static_cast<__mmask32>((1ull << (k - k_main)) - 1);
    __m512i xv[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      xv[i] = _mm512_maskz_loadu_epi16(mask, x[i] + k_main);
    }
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m512i wv = _mm512_maskz_loadu_epi16(mask, wr[j] + k_main);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) acc[i][j] = Dot::Step(acc[i][j], xv[i], wv);
    }
  }
}

// out[i0 + i, j0 + j] for i < MR, j < NR.
template <int MR, int NR, class Dot>
void Tile(const MatmulJob& job, const uint16_t* w, int64_t i0, int64_t j0) {
  const uint16_t* x[MR];
  const uint16_t* wr[NR];
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) x[i] = job.x_bf16 + (i0 + i) * job.x_stride;
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) wr[j] = w + (j0 + j) * job.k;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  Accumulate<MR, NR, Dot>(job, x, wr, acc);
  avx512::StoreTile<MR, NR>(job, acc, i0, j0);
}

// The weight "type" RunRange sees: w is bf16 whatever the Dot.
template <class Dot>
struct Bf16Pairs {
  using T = uint16_t;
};

template <class Dot>
struct Tiles {
  static constexpr int64_t kPanelBytes = 192 << 10;
  static constexpr int kWideCols = 8;
  static constexpr int kMidCols = 4;
  // Measured: 5-15% faster here; the f32 kernels, whose loads are busier,
  // were slower with it.
  static constexpr bool kPrefetchNextPanel = true;
  template <int R, int NR, class W>
  static void Run(const MatmulJob& job, const uint16_t* w, int64_t i0,
                  int64_t j0) {
    Tile<R, NR, Dot>(job, w, i0, j0);
  }
};

template <class Dot>
void Run(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  matmul_tiling::RunRange<Tiles<Dot>, Bf16Pairs<Dot>>(job, n_begin, n_end);
}

// F32ToBf16 (dtype.h) on 16 lanes.
inline __m256i RoundToBf16(__m512i u) {
  const __m512i lsb =
      _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))),
      16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(
      _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
      _mm512_set1_epi32(0x7f800000));
  const __m512i quiet =
      _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet));
}

void RoundX(const float* x, int64_t count, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(out + i),
        RoundToBf16(_mm512_castps_si512(_mm512_loadu_ps(x + i))));
  }
  if (i < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - i)) - 1);
    _mm256_mask_storeu_epi16(
        out + i, mask,
        RoundToBf16(_mm512_castps_si512(_mm512_maskz_loadu_ps(mask, x + i))));
  }
}

}  // namespace

const MatmulKernel& Avx512Bf16DotKernel() {
  static constexpr MatmulKernel kKernel = {16, Run<HardwareDot>, nullptr,
                                           RoundX};
  return kKernel;
}

const MatmulKernel& Avx512Bf16DotEmulatedKernel() {
  static constexpr MatmulKernel kKernel = {16, Run<EmulatedDot>, nullptr,
                                           RoundX};
  return kKernel;
}

}  // namespace infernum::kernels::cpu

#pragma GCC diagnostic pop
#pragma GCC pop_options
