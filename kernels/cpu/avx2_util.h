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

// min(left, 8) floats from p, zeros after (never reads past them).
inline __m256 Avx2LoadF32(const float* p, int64_t left) {
  return left >= 8 ? _mm256_loadu_ps(p)
                   : _mm256_maskload_ps(p, Avx2TailMask(left));
}

// Stores the first min(left, 8) lanes of v.
inline void Avx2StoreF32(float* p, int64_t left, __m256 v) {
  if (left >= 8) {
    _mm256_storeu_ps(p, v);
  } else {
    _mm256_maskstore_ps(p, Avx2TailMask(left), v);
  }
}

// min(left, 8) bf16 values from p widened exactly to f32, zeros after.
inline __m256 Avx2LoadBf16(const uint16_t* p, int64_t left) {
  __m128i raw;
  if (left >= 8) {
    raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  } else {
    alignas(16) uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < left; ++i) tmp[i] = p[i];
    raw = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
  }
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}

inline float Avx2HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace
}  // namespace infernum::kernels::cpu
