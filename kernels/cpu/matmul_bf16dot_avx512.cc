// AVX-512 bf16-dot matmul kernels (see matmul_kernels.h): one with AVX512-BF16
// `vdpbf16ps`, and an exact emulation of it with AVX-512F FMAs for CPUs
// without that extension.
//
// x is rounded to bf16 once per matmul into groups of 4 rows (PackX) whose
// 32-element chunks are interleaved, so a tile's x loads are contiguous.
// Register tiles cover a group's R rows by NR rows of w (4x6, and up to 8
// columns for shorter groups), one zmm accumulator per output; each chunk of
// k is one 64-byte load of x and of w (bf16 pairs, no reordering) and one
// vdpbf16ps per output. A thread walks its columns in 64 KiB panels of w,
// reused from L2 by every group while the next panel is prefetched. Tile
// shapes and blocking never change results. The emulation widens
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
#include "kernels/cpu/prefetch.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")
// GCC 12's _mm512_undefined_* trips -Wmaybe-uninitialized when inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/avx512_reduce.h"
#include "kernels/cpu/avx512_round_bf16.h"

namespace infernum::kernels::cpu {
namespace {

constexpr int64_t kChunk = 32;  // bf16 elements per zmm.
constexpr int64_t kGemvPrefetchBytes = 1024;
constexpr int64_t kGemmPrefetchBytes = 256;
constexpr unsigned kDazFtz = 0x8040;  // MXCSR DAZ | FTZ.
// Rows of x per packed group (PackX) and per register tile.
constexpr int64_t kGroupRows = 4;
// Bytes of w per panel (rows reused from L2 by every group of x rows).
constexpr int64_t kPanelBytes = 64 << 10;

// k rounded up to whole chunks: the stride of a row in packed x.
constexpr int64_t PaddedK(int64_t k) { return PackedXStride(k); }

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

// x as the kernel reads it (PackX): row i of a group of R rows, chunk c at
// group + (c * R + i) * kChunk, the last chunk zero-filled past k.
struct PackedX {
  const uint16_t* group;
  int64_t k;
};

// acc[i][j] over all of k for the tile of the R rows of x group `x` by w
// rows wr[j]. x's padding is zero but w's is the next row: w's last chunk is
// loaded masked.
template <int R, int NR, class Dot>
__attribute__((always_inline)) inline void Accumulate(
    const PackedX& x, const uint16_t* const (&wr)[NR], __m512 (&acc)[R][NR]) {
  const DazFtzScope<Dot> scope;
  const int64_t k = x.k;
  const int64_t k_main = k / kChunk * kChunk;
  const uint16_t* xc = x.group;
  for (int64_t kk = 0; kk < k_main; kk += kChunk, xc += R * kChunk) {
    __m512i wv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      constexpr int64_t kAhead =
          R == 1 ? kGemvPrefetchBytes : kGemmPrefetchBytes;
      _mm_prefetch(reinterpret_cast<const char*>(wr[j] + kk) + kAhead,
                   _MM_HINT_T0);
      wv[j] = _mm512_loadu_si512(wr[j] + kk);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512i xv = _mm512_loadu_si512(xc + i * kChunk);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = Dot::Step(acc[i][j], xv, wv[j]);
    }
  }
  if (k_main < k) {
    const __mmask32 mask = static_cast<__mmask32>((1ull << (k - k_main)) - 1);
    __m512i wv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      wv[j] = _mm512_maskz_loadu_epi16(mask, wr[j] + k_main);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512i xv = _mm512_loadu_si512(xc + i * kChunk);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = Dot::Step(acc[i][j], xv, wv[j]);
    }
  }
}

// Stores (job.accumulate: adds) the sums of the tile's accumulators to out,
// 4x4 blocks at a time: for the block at (r0, c0), ReduceAdd16 of v[4 * c +
// q] = acc[r0 + q][c0 + c] leaves that sum in lane 4 * q + c, so 128-bit
// quarter q holds row r0 + q (lanes past the tile's edge are not stored).
template <int R, int NR, int r0 = 0, int c0 = 0>
__attribute__((always_inline)) inline void StoreSums(const MatmulJob& job,
                                                     const __m512 (&acc)[R][NR],
                                                     int64_t i0, int64_t j0) {
  __m512 v[16];
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t) {
    const int c = t / 4, q = t % 4;
    v[t] = acc[r0 + q < R ? r0 + q : r0][c0 + c < NR ? c0 + c : c0];
  }
  const __m512 sums = avx512::ReduceAdd16(v);
  constexpr int kCols = NR - c0 < 4 ? NR - c0 : 4;
  const __mmask8 mask = static_cast<__mmask8>((1u << kCols) - 1);
  const __m128 rows[4] = {
      _mm512_castps512_ps128(sums), _mm512_extractf32x4_ps(sums, 1),
      _mm512_extractf32x4_ps(sums, 2), _mm512_extractf32x4_ps(sums, 3)};
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    if (r0 + q >= R) break;
    float* out = job.out + (i0 + r0 + q) * job.n + j0 + c0;
    __m128 row = rows[q];
    if (job.accumulate) row = _mm_add_ps(_mm_maskz_loadu_ps(mask, out), row);
    _mm_mask_storeu_ps(out, mask, row);
  }
  if constexpr (c0 + 4 < NR) {
    StoreSums<R, NR, r0, c0 + 4>(job, acc, i0, j0);
  } else if constexpr (r0 + 4 < R) {
    StoreSums<R, NR, r0 + 4, 0>(job, acc, i0, j0);
  }
}

// out[i0 + i, j0 + j] for the R rows of the x group at i0 and j < NR.
template <int R, int NR, class Dot>
void Tile(const MatmulJob& job, const uint16_t* w, int64_t i0, int64_t j0) {
  const uint16_t* wr[NR];
  __m512 acc[R][NR];
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) wr[j] = w + (j0 + j) * job.k;
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  const PackedX x{job.x_bf16 + i0 * PaddedK(job.k), job.k};
  Accumulate<R, NR, Dot>(x, wr, acc);
  StoreSums<R, NR>(job, acc, i0, j0);
}

// Prefetches [next, end) into L2 a few lines per tile, so that the next panel
// of w is cached by the time the current one is done.
class PanelPrefetcher {
 public:
  PanelPrefetcher(const char* next, const char* end, int64_t tiles)
      : next_(next),
        end_(end),
        lines_per_tile_(tiles == 0 ? 0
                                   : ((end - next) / 64 + tiles - 1) / tiles) {}
  void Step() {
    for (int64_t l = 0; l < lines_per_tile_ && next_ < end_; ++l) {
      PrefetchL2(next_);
      next_ += 64;
    }
  }

 private:
  const char* next_;
  const char* end_;
  int64_t lines_per_tile_;
};

// Tiles of the R-row x group at i0 by w rows [jb, je), NR rows at a time.
template <int R, int NR, class Dot>
void GroupTiles(const MatmulJob& job, const uint16_t* w, int64_t i0, int64_t jb,
                int64_t je, PanelPrefetcher& prefetcher) {
  int64_t j0 = jb;
  for (; j0 + NR <= je; j0 += NR) {
    prefetcher.Step();
    Tile<R, NR, Dot>(job, w, i0, j0);
  }
  for (; j0 < je; ++j0) Tile<R, 1, Dot>(job, w, i0, j0);
}

// Columns per tile for a group of `rows` rows: at most 24 accumulators plus
// the NR w vectors and one x vector in the 32 zmm registers.
constexpr int TileCols(int64_t rows) { return rows >= 3 ? 6 : 8; }

template <class Dot>
void GroupRange(const MatmulJob& job, const uint16_t* w, int64_t i0, int64_t jb,
                int64_t je, PanelPrefetcher& prefetcher) {
  static_assert(kGroupRows == 4);
  switch (std::min<int64_t>(kGroupRows, job.m - i0)) {
    case 1:
      return GroupTiles<1, TileCols(1), Dot>(job, w, i0, jb, je, prefetcher);
    case 2:
      return GroupTiles<2, TileCols(2), Dot>(job, w, i0, jb, je, prefetcher);
    case 3:
      return GroupTiles<3, TileCols(3), Dot>(job, w, i0, jb, je, prefetcher);
    default:
      return GroupTiles<4, TileCols(4), Dot>(job, w, i0, jb, je, prefetcher);
  }
}

// Output columns [n_begin, n_end): panels of w rows small enough to stay in
// L2, each reused by every group of x rows while the next one is prefetched.
template <class Dot>
void Run(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  const auto* w = static_cast<const uint16_t*>(job.w);
  const int64_t row_bytes = std::max<int64_t>(1, job.k * 2);
  const int64_t cols = TileCols(std::min(kGroupRows, job.m));
  const int64_t panel =
      job.m <= kGroupRows
          ? n_end - n_begin
          : std::max<int64_t>(cols, kPanelBytes / row_bytes / cols * cols);
  const int64_t groups = (job.m + kGroupRows - 1) / kGroupRows;
  for (int64_t jp = n_begin; jp < n_end; jp += panel) {
    const int64_t j_end = std::min(n_end, jp + panel);
    const int64_t next_end = std::min(n_end, j_end + panel);
    PanelPrefetcher prefetcher(
        reinterpret_cast<const char*>(w + j_end * job.k),
        reinterpret_cast<const char*>(w + next_end * job.k),
        job.m <= kGroupRows ? 0 : groups * ((j_end - jp) / cols));
    for (int64_t i0 = 0; i0 < job.m; i0 += kGroupRows) {
      GroupRange<Dot>(job, w, i0, jp, j_end, prefetcher);
    }
  }
}

// Rows [row_begin, row_end) of x ([m, k] f32) rounded to bf16 in the layout
// PackedX describes (x_bf16 of MatmulJob for these kernels).
void PackX(const float* x, int64_t m, int64_t k, int64_t row_begin,
           int64_t row_end, uint16_t* out) {
  const int64_t padded = PaddedK(k);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t g = r / kGroupRows * kGroupRows;
    const int64_t rows = std::min(kGroupRows, m - g);
    uint16_t* dst = out + g * padded + (r - g) * kChunk;
    const float* src = x + r * k;
    const int64_t k_main = k / kChunk * kChunk;
    int64_t c = 0;
    for (; c < k_main; c += kChunk, dst += rows * kChunk) {
      for (int64_t h = 0; h < kChunk; h += 16) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + h),
                            avx512::RoundToBf16(_mm512_castps_si512(
                                _mm512_loadu_ps(src + c + h))));
      }
    }
    if (c < k) {  // The last chunk, zero-filled past k.
      for (int64_t h = 0; h < kChunk; h += 16) {
        const int64_t left = k - c - h;
        const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xffff)
                               : left <= 0
                                   ? static_cast<__mmask16>(0)
                                   : static_cast<__mmask16>((1u << left) - 1);
        // Masked-off lanes load +0.0, which rounds to bf16 zero.
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + h),
                            avx512::RoundToBf16(_mm512_castps_si512(
                                _mm512_maskz_loadu_ps(mask, src + c + h))));
      }
    }
  }
}

}  // namespace

const MatmulKernel& Avx512Bf16DotKernel() {
  static constexpr MatmulKernel kKernel = {
      .n_granule = 24, .run = Run<HardwareDot>, .pack_x_bf16 = PackX};
  return kKernel;
}

const MatmulKernel& Avx512Bf16DotEmulatedKernel() {
  static constexpr MatmulKernel kKernel = {
      .n_granule = 24, .run = Run<EmulatedDot>, .pack_x_bf16 = PackX};
  return kKernel;
}

}  // namespace infernum::kernels::cpu

#pragma GCC diagnostic pop
#pragma GCC pop_options
