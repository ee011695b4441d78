// Internal to the CPU backend: AVX2 helpers shared by the AVX2 kernels. Only
// include this inside a `#pragma GCC target("avx2,fma,f16c")` region (after
// <immintrin.h>); everything here has internal linkage.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace infernum::kernels::cpu {
namespace {

// Lane i of the result is all ones when i < left.
inline __m256i Avx2TailMask(int64_t left) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(
      _mm256_set1_epi32(static_cast<int>(left < 8 ? left : 8)), iota);
}

inline float Avx2HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace
}  // namespace infernum::kernels::cpu
