// AVX2 bf16-dot matmul kernel (see matmul_kernels.h): an exact emulation of
// vdpbf16ps for CPUs with AVX2+FMA but not AVX512-BF16. Each output's 16
// accumulator lanes are two ymm halves (lanes 0-7: elements 0-15 of a
// 32-element chunk, lanes 8-15: elements 16-31); each pair is two FMAs of the
// exactly widened odd then even elements, under MXCSR's DAZ and FTZ; the
// halves are summed in _mm512_reduce_add_ps's order. Tiles are one row of x
// by NR rows of w (the 16 ymm registers hold no more).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/matmul_kernels.h"
#include "kernels/dtype.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "kernels/cpu/matmul_tiling.h"

namespace infernum::kernels::cpu {
namespace {

constexpr int64_t kChunk = 32;
constexpr unsigned kDazFtz = 0x8040;  // MXCSR DAZ | FTZ.

// acc += odd(x) * odd(w), then += even(x) * even(w), per 32-bit lane.
inline __m256 Step(__m256 acc, __m256i x, __m256i w) {
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(x, high)),
                        _mm256_castsi256_ps(_mm256_and_si256(w, high)), acc);
  return _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(x, 16)),
                         _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)), acc);
}

// The sum of lanes lo[0..7], hi[0..7] as _mm512_reduce_add_ps adds 16 lanes.
inline float ReduceHalves(__m256 lo, __m256 hi) {
  const __m256 half = _mm256_add_ps(lo, hi);
  const __m128 quarter =
      _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
  alignas(16) float q[4];
  _mm_store_ps(q, quarter);
  return (q[0] + q[2]) + (q[1] + q[3]);
}

// One 32-element chunk of row p starting at element c: all of it, or the
// rest of the row zero-filled.
struct Chunk {
  __m256i lo, hi;
};
inline Chunk LoadChunk(const uint16_t* p, int64_t c, int64_t k) {
  if (c + kChunk <= k) {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + c)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + c + 16))};
  }
  alignas(32) uint16_t tail[kChunk] = {};
  std::memcpy(tail, p + c, (k - c) * sizeof(uint16_t));
  return {_mm256_load_si256(reinterpret_cast<const __m256i*>(tail)),
          _mm256_load_si256(reinterpret_cast<const __m256i*>(tail + 16))};
}

// out[i, j0 + j] for j < NR.
template <int NR>
void RowTile(const MatmulJob& job, const uint16_t* w, int64_t i, int64_t j0) {
  const int64_t k = job.k;
  const uint16_t* x = job.x_bf16 + i * job.x_stride;
  const uint16_t* wr[NR];
  __m256 lo[NR], hi[NR];
  for (int j = 0; j < NR; ++j) {
    wr[j] = w + (j0 + j) * k;
    lo[j] = hi[j] = _mm256_setzero_ps();
  }
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | kDazFtz);
  for (int64_t c = 0; c < k; c += kChunk) {
    const Chunk xc = LoadChunk(x, c, k);
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      const Chunk wc = LoadChunk(wr[j], c, k);
      lo[j] = Step(lo[j], xc.lo, wc.lo);
      hi[j] = Step(hi[j], xc.hi, wc.hi);
    }
  }
  _mm_setcsr(saved);
  float* out = job.out + i * job.n + j0;
  for (int j = 0; j < NR; ++j) {
    const float sum = ReduceHalves(lo[j], hi[j]);
    out[j] = job.accumulate ? out[j] + sum : sum;
  }
}

struct Bf16Pairs {
  using T = uint16_t;
};

struct Tiles {
  static constexpr int64_t kPanelBytes = 128 << 10;
  static constexpr int kWideCols = 4;
  static constexpr int kMidCols = 4;
  static constexpr bool kPrefetchNextPanel = false;
  template <int R, int NR, class W>
  static void Run(const MatmulJob& job, const uint16_t* w, int64_t i0,
                  int64_t j0) {
    for (int i = 0; i < R; ++i) RowTile<NR>(job, w, i0 + i, j0);
  }
};

void Run(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  matmul_tiling::RunRange<Tiles, Bf16Pairs>(job, n_begin, n_end);
}

void RoundX(const float* x, int64_t count, uint16_t* out) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i bias = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet_bit = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, bias)), 16);
    // Signed compare is fine: both sides are non-negative.
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet_bit);
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);
    // Values are < 2^16: pack the 8 dwords to words in order.
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r),
                                            _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), packed);
  }
  for (; i < count; ++i) out[i] = F32ToBf16(x[i]);
}

}  // namespace

const MatmulKernel& Avx2Bf16DotKernel() {
  static constexpr MatmulKernel kKernel = {16, Run, nullptr, RoundX};
  return kKernel;
}

}  // namespace infernum::kernels::cpu

#pragma GCC pop_options
