// Internal to the CPU backend: F32ToBf16 (dtype.h) on 16 lanes with AVX-512.
// Include inside an AVX-512 `#pragma GCC target` region.
#pragma once

#include <immintrin.h>

namespace infernum::kernels::cpu::avx512 {

// The f32 bit patterns u rounded to bf16 (nearest even; NaN stays NaN, made
// quiet), exactly as F32ToBf16.
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

}  // namespace infernum::kernels::cpu::avx512
