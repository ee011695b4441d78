// Internal to the CPU backend: the blocking loop shared by the per-ISA
// matmul kernels (matmul_avx2.cc, matmul_avx512.cc). Include it inside the
// ISA's `#pragma GCC target` region so the loop is compiled for that ISA.
//
// `Tiles` describes one ISA's microkernels:
//   static constexpr int64_t kPanelBytes;  // w panel reused across x rows
//   static constexpr int kWideCols;        // w rows per tile when x has 1 row
//   static constexpr int kMidCols;         // w rows per tile for 1..4 x rows
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
    for (int64_t i0 = 0; i0 < job.m; i0 += 4) {
      const int rows = static_cast<int>(std::min<int64_t>(4, job.m - i0));
      int64_t j0 = jp;
      if (rows == 1) {
        for (; j0 + kWide <= j_end; j0 += kWide) {
          Tiles::template Run<1, kWide, W>(job, w, i0, j0);
        }
      }
      for (; j0 + kMid <= j_end; j0 += kMid) {
        TileRows<Tiles, kMid, W>(rows, job, w, i0, j0);
      }
      for (; j0 < j_end; ++j0) TileRows<Tiles, 1, W>(rows, job, w, i0, j0);
    }
  }
}

}  // namespace infernum::kernels::cpu::matmul_tiling
