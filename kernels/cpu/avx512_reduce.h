// Internal to the CPU backend: horizontal sums of AVX-512 matmul
// accumulators. Include inside an AVX-512 `#pragma GCC target` region.
//
// Every matmul kernel ends each output with the sum of the 16 lanes of its
// accumulator, added in _mm512_reduce_add_ps's order (halves of 256, 128, 64
// then 32 bits). ReduceAdd16 computes 16 such sums at once with the same
// pairing, so a tile's results are bit-identical to reducing each
// accumulator alone: tile shapes never change results.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/matmul_kernels.h"

namespace infernum::kernels::cpu::avx512 {

// Lanes l < 8 of the result: a[l] + a[l + 8]; lanes 8 + l: b[l] + b[l + 8].
inline __m512 FoldHalves256(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}

// 128-bit quarter q < 2 of the result: quarter 2q of a plus quarter 2q + 1
// of a; quarters 2 + q: the same of b.
inline __m512 FoldHalves128(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Lane 4 * q + r of the result is the sum of the 16 lanes of v[4 * r + q].
inline __m512 ReduceAdd16(const __m512* v) {
  __m512 s[8], u[4];
#pragma GCC unroll 8
  for (int q = 0; q < 8; ++q) s[q] = FoldHalves256(v[2 * q], v[2 * q + 1]);
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) u[r] = FoldHalves128(s[2 * r], s[2 * r + 1]);
  // Per 128-bit quarter: lanes (0, 2) and (1, 3), then (0, 1).
  const __m512 v0 =
      _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0)),
                    _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 v1 =
      _mm512_add_ps(_mm512_shuffle_ps(u[2], u[3], _MM_SHUFFLE(1, 0, 1, 0)),
                    _mm512_shuffle_ps(u[2], u[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Stores (job.accumulate: adds) the sums of a 4x4 tile of accumulators to
// out[i0:i0+4, j0:j0+4].
inline void Store4x4(const MatmulJob& job, const __m512 (&acc)[4][4],
                     int64_t i0, int64_t j0) {
  // ReduceAdd16 leaves acc[i][j] (vector 4i + j) at lane 4j + i; permute to
  // lane 4i + j so each row's four outputs are contiguous.
  const __m512i to_rows =
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  alignas(64) float sums[16];
  _mm512_store_ps(sums,
                  _mm512_permutexvar_ps(to_rows, ReduceAdd16(&acc[0][0])));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    float* out = job.out + (i0 + i) * job.n + j0;
    __m128 row = _mm_load_ps(sums + 4 * i);
    if (job.accumulate) row = _mm_add_ps(_mm_loadu_ps(out), row);
    _mm_storeu_ps(out, row);
  }
}

// Stores (job.accumulate: adds) the sums of an MR x NR tile of accumulators
// to out[i0:i0+MR, j0:j0+NR]; 4x4 tiles take the batched Store4x4 path, with
// the same bits.
template <int MR, int NR>
inline void StoreTile(const MatmulJob& job, const __m512 (&acc)[MR][NR],
                      int64_t i0, int64_t j0) {
  if constexpr (MR == 4 && NR == 4) {
    Store4x4(job, acc, i0, j0);
  } else {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      float* out = job.out + (i0 + i) * job.n + j0;
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) {
        const float sum = _mm512_reduce_add_ps(acc[i][j]);
        out[j] = job.accumulate ? out[j] + sum : sum;
      }
    }
  }
}

}  // namespace infernum::kernels::cpu::avx512
