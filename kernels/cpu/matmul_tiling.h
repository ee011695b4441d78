// Internal to the CPU backend: the blocking loop shared by the per-ISA
// matmul kernels (matmul_avx2.cc, matmul_avx512.cc). Include it inside the
// ISA's `#pragma GCC target` region so the loop is compiled for that ISA.
//
// `Tiles` describes one ISA's microkernels:
//   static constexpr int64_t kPanelBytes;  // w panel reused across x rows
//   static constexpr int kWideCols;        // w rows per tile when x has 1 row
//   static constexpr int kMidCols;         // w rows per tile for 1..4 x rows
//   static constexpr bool kPrefetchNextPanel;  // see RunRange
//   template <int R, int NR, class W>
//   static void Run(const MatmulJob&, const typename W::T* w, int64_t i0,
//                   int64_t j0);           // out[i0:i0+R, j0:j0+NR]
// Each output element's reduction order is fixed by the microkernel alone,
// so the loop's blocking never changes results (batch invariance).
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/matmul_kernels.h"

namespace infernum::kernels::cpu::matmul_tiling {

// Tiles of `rows` (1..4) rows of x by NR rows of w.
template <class Tiles, int NR, class W>
void TileRows(int rows, const MatmulJob& job, const typename W::T* w,
              int64_t i0, int64_t j0) {
  switch (rows) {
    case 1:
      return Tiles::template Run<1, NR, W>(job, w, i0, j0);
    case 2:
      return Tiles::template Run<2, NR, W>(job, w, i0, j0);
    case 3:
      return Tiles::template Run<3, NR, W>(job, w, i0, j0);
    default:
      return Tiles::template Run<4, NR, W>(job, w, i0, j0);
  }
}

inline constexpr int64_t kMaxPrefetchLines = 16;

// Computes output columns [n_begin, n_end) for every row of x.
template <class Tiles, class W>
void RunRange(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  const auto* w = static_cast<const typename W::T*>(job.w);
  const int64_t row_bytes = std::max<int64_t>(1, job.k * sizeof(typename W::T));
  const int64_t panel =
      job.m <= 4 ? n_end - n_begin
                 : std::max<int64_t>(8, Tiles::kPanelBytes / row_bytes / 8 * 8);
  constexpr int kWide = Tiles::kWideCols, kMid = Tiles::kMidCols;
  for (int64_t jp = n_begin; jp < n_end; jp += panel) {
    const int64_t j_end = std::min(n_end, jp + panel);
    // The first row group reads this panel from memory. With
    // kPrefetchNextPanel, while the other row groups reuse it from L2, the
    // next panel is prefetched into L2, a few cache lines per tile (at most
    // kMaxPrefetchLines: bursts of prefetches stall the loads).
    const char* next = reinterpret_cast<const char*>(w + j_end * job.k);
    const char* next_end = reinterpret_cast<const char*>(
        w + std::min(n_end, j_end + panel) * job.k);
    const int64_t later_tiles =
        (job.m - 1) / 4 * ((j_end - jp + kMid - 1) / kMid);
    const int64_t lines_per_tile =
        !Tiles::kPrefetchNextPanel || later_tiles == 0
            ? 0
            : std::min<int64_t>(
                  kMaxPrefetchLines,
                  ((next_end - next) / 64 + later_tiles - 1) / later_tiles);
    for (int64_t i0 = 0; i0 < job.m; i0 += 4) {
      const int rows = static_cast<int>(std::min<int64_t>(4, job.m - i0));
      int64_t j0 = jp;
      if (rows == 1) {
        for (; j0 + kWide <= j_end; j0 += kWide) {
          Tiles::template Run<1, kWide, W>(job, w, i0, j0);
        }
      }
      for (; j0 + kMid <= j_end; j0 += kMid) {
        if (i0 > 0) {
          for (int64_t l = 0; l < lines_per_tile && next < next_end; ++l) {
            __builtin_prefetch(next, 0, 2);
            next += 64;
          }
        }
        TileRows<Tiles, kMid, W>(rows, job, w, i0, j0);
      }
      for (; j0 < j_end; ++j0) TileRows<Tiles, 1, W>(rows, job, w, i0, j0);
    }
  }
}

}  // namespace infernum::kernels::cpu::matmul_tiling
