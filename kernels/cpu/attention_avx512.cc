// AVX-512 attention inner kernels (VecKernels::attn_scores / attn_values),
// for f32 or bf16 keys and values (bf16 widened exactly in registers).
//
// Scores: for each head and each run of up to 16 keys, 16 zmm partial dot
// products are folded into one zmm of 16 scores by a transpose-and-add tree
// (45 instructions instead of 16 horizontal sums). Values: per head, the
// output row stays in registers while the keys stream by. Head dims that
// are not a multiple of 16 up to 256 use masked generic loops.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/vec_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
// GCC 12's _mm512_undefined_* trips -W(maybe-)uninitialized when inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace infernum::kernels::cpu {
namespace {

inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff)
                    : static_cast<__mmask16>((1u << left) - 1);
}

struct F32Kv {
  using T = float;
  static __m512 Load(const T* p) { return _mm512_loadu_ps(p); }
  static __m512 LoadMasked(__mmask16 m, const T* p) {
    return _mm512_maskz_loadu_ps(m, p);
  }
};

// bf16 widened exactly: zero-extend to 32 bits, shift into the high half.
struct Bf16Kv {
  using T = uint16_t;
  static __m512 Load(const T* p) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  }
  static __m512 LoadMasked(__mmask16 m, const T* p) {
    const __m256i raw = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  }
};

// Lane t of the result is the sum of the 16 lanes of a[t].
inline __m512 TransposeSum16(const __m512 a[16]) {
  __m512 b[8], c[4];
  for (int i = 0; i < 8; ++i) {  // Lane pairs (x, y) per 128-bit quarter.
    b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                         _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  }
  for (int j = 0; j < 4; ++j) {  // Keys 4j..4j+3 per quarter.
    c[j] = _mm512_add_ps(
        _mm512_shuffle_ps(b[2 * j], b[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
        _mm512_shuffle_ps(b[2 * j], b[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  const __m512 f0 =
      _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                    _mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 f1 =
      _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], _MM_SHUFFLE(2, 0, 2, 0)),
                    _mm512_shuffle_f32x4(c[2], c[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(f0, f1, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(f0, f1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// dim = 16 * DV.
template <int DV, class Kv>
void ScoresFixed(const AttnBlock& b, float* scores, int64_t score_stride) {
  const __m512 scale = _mm512_set1_ps(b.scale);
  for (int64_t h = 0; h < b.heads; ++h) {
    __m512 q[DV];
#pragma GCC unroll 16
    for (int v = 0; v < DV; ++v) {
      q[v] = _mm512_loadu_ps(b.q + h * b.dim + 16 * v);
    }
    for (int64_t t0 = 0; t0 < b.count; t0 += 16) {
      const int64_t nt = std::min<int64_t>(16, b.count - t0);
      __m512 acc[16];
      // Past the last key, rows repeat the last one (its lanes are not
      // stored): no branch in the unrolled loop, so acc stays in registers.
#pragma GCC unroll 16
      for (int t = 0; t < 16; ++t) {
        acc[t] = _mm512_setzero_ps();
        const auto* k = static_cast<const typename Kv::T*>(b.kv) +
                        (t0 + std::min<int64_t>(t, nt - 1)) * b.kv_stride;
#pragma GCC unroll 16
        for (int v = 0; v < DV; ++v) {
          acc[t] = _mm512_fmadd_ps(q[v], Kv::Load(k + 16 * v), acc[t]);
        }
      }
      _mm512_mask_storeu_ps(scores + h * score_stride + t0, TailMask(nt),
                            _mm512_mul_ps(TransposeSum16(acc), scale));
    }
  }
}

// ScoresFixed for G heads at once (the query heads of one KV head): each
// key row is loaded (and widened) once for all of them, 4 keys at a time,
// and the 16 partial sums of a head are staged on the stack for its
// TransposeSum16. Per head and key the arithmetic is ScoresFixed's exactly.
template <int DV, int G, class Kv>
void ScoresGrouped(const AttnBlock& b, float* scores, int64_t score_stride) {
  const __m512 scale = _mm512_set1_ps(b.scale);
  __m512 q[G][DV];
#pragma GCC unroll 8
  for (int h = 0; h < G; ++h) {
#pragma GCC unroll 16
    for (int v = 0; v < DV; ++v) {
      q[h][v] = _mm512_loadu_ps(b.q + h * b.dim + 16 * v);
    }
  }
  const auto* kv = static_cast<const typename Kv::T*>(b.kv);
  for (int64_t t0 = 0; t0 < b.count; t0 += 16) {
    const int64_t nt = std::min<int64_t>(16, b.count - t0);
    __m512 staged[G][16];
#pragma GCC unroll 4
    for (int t4 = 0; t4 < 16; t4 += 4) {
#pragma GCC unroll 4
      for (int t = t4; t < t4 + 4; ++t) {
        // Past the last key, rows repeat the last one (as ScoresFixed).
        const auto* k = kv + (t0 + std::min<int64_t>(t, nt - 1)) * b.kv_stride;
        __m512 row[DV];
#pragma GCC unroll 16
        for (int v = 0; v < DV; ++v) row[v] = Kv::Load(k + 16 * v);
#pragma GCC unroll 8
        for (int h = 0; h < G; ++h) {
          __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 16
          for (int v = 0; v < DV; ++v)
            acc = _mm512_fmadd_ps(q[h][v], row[v], acc);
          staged[h][t] = acc;
        }
      }
    }
#pragma GCC unroll 8
    for (int h = 0; h < G; ++h) {
      _mm512_mask_storeu_ps(scores + h * score_stride + t0, TailMask(nt),
                            _mm512_mul_ps(TransposeSum16(staged[h]), scale));
    }
  }
}

template <class Kv>
void ScoresGeneric(const AttnBlock& b, float* scores, int64_t score_stride) {
  for (int64_t t = 0; t < b.count; ++t) {
    const auto* k = static_cast<const typename Kv::T*>(b.kv) + t * b.kv_stride;
    for (int64_t h = 0; h < b.heads; ++h) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t d = 0; d < b.dim; d += 16) {
        const __mmask16 m = TailMask(b.dim - d);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, b.q + h * b.dim + d),
                              Kv::LoadMasked(m, k + d), acc);
      }
      scores[h * score_stride + t] = b.scale * _mm512_reduce_add_ps(acc);
    }
  }
}

// dim = 16 * DV; two accumulator sets (even / odd keys) hide FMA latency.
template <int DV, class Kv>
void ValuesFixed(const float* p, int64_t p_stride, const AttnBlock& b,
                 float* acc) {
  for (int64_t h = 0; h < b.heads; ++h) {
    const float* ph = p + h * p_stride;
    float* out = acc + h * b.dim;
    __m512 a0[DV], a1[DV];
#pragma GCC unroll 16
    for (int v = 0; v < DV; ++v) {
      a0[v] = _mm512_loadu_ps(out + 16 * v);
      a1[v] = _mm512_setzero_ps();
    }
    int64_t t = 0;
    for (; t + 2 <= b.count; t += 2) {
      const auto* v0 =
          static_cast<const typename Kv::T*>(b.kv) + t * b.kv_stride;
      const auto* v1 = v0 + b.kv_stride;
      const __m512 p0 = _mm512_set1_ps(ph[t]), p1 = _mm512_set1_ps(ph[t + 1]);
#pragma GCC unroll 16
      for (int v = 0; v < DV; ++v) {
        a0[v] = _mm512_fmadd_ps(p0, Kv::Load(v0 + 16 * v), a0[v]);
        a1[v] = _mm512_fmadd_ps(p1, Kv::Load(v1 + 16 * v), a1[v]);
      }
    }
    if (t < b.count) {
      const auto* v0 =
          static_cast<const typename Kv::T*>(b.kv) + t * b.kv_stride;
      const __m512 p0 = _mm512_set1_ps(ph[t]);
#pragma GCC unroll 16
      for (int v = 0; v < DV; ++v) {
        a0[v] = _mm512_fmadd_ps(p0, Kv::Load(v0 + 16 * v), a0[v]);
      }
    }
#pragma GCC unroll 16
    for (int v = 0; v < DV; ++v) {
      _mm512_storeu_ps(out + 16 * v, _mm512_add_ps(a0[v], a1[v]));
    }
  }
}

// a[h] += p[h * p_stride] * value row t, for the G heads (one load of the
// row for all of them).
template <int DV, int G, class Kv>
__attribute__((always_inline)) inline void AddValueRow(const float* p,
                                                       int64_t p_stride,
                                                       const AttnBlock& b,
                                                       int64_t t,
                                                       __m512 (&a)[G][DV]) {
  const auto* kv = static_cast<const typename Kv::T*>(b.kv) + t * b.kv_stride;
  __m512 row[DV];
#pragma GCC unroll 16
  for (int v = 0; v < DV; ++v) row[v] = Kv::Load(kv + 16 * v);
#pragma GCC unroll 8
  for (int h = 0; h < G; ++h) {
    const __m512 ph = _mm512_set1_ps(p[h * p_stride]);
#pragma GCC unroll 16
    for (int v = 0; v < DV; ++v) a[h][v] = _mm512_fmadd_ps(ph, row[v], a[h][v]);
  }
}

// ValuesFixed for G heads at once (the query heads of one KV head): each
// value row is loaded (and widened) once for all of them. Per head the
// arithmetic is ValuesFixed's exactly (same accumulators, same order).
template <int DV, int G, class Kv>
void ValuesGrouped(const float* p, int64_t p_stride, const AttnBlock& b,
                   float* acc) {
  __m512 a0[G][DV], a1[G][DV];
#pragma GCC unroll 8
  for (int h = 0; h < G; ++h) {
#pragma GCC unroll 16
    for (int v = 0; v < DV; ++v) {
      a0[h][v] = _mm512_loadu_ps(acc + h * b.dim + 16 * v);
      a1[h][v] = _mm512_setzero_ps();
    }
  }
  int64_t t = 0;
  for (; t + 2 <= b.count; t += 2) {
    AddValueRow<DV, G, Kv>(p + t, p_stride, b, t, a0);
    AddValueRow<DV, G, Kv>(p + t + 1, p_stride, b, t + 1, a1);
  }
  if (t < b.count) AddValueRow<DV, G, Kv>(p + t, p_stride, b, t, a0);
#pragma GCC unroll 8
  for (int h = 0; h < G; ++h) {
#pragma GCC unroll 16
    for (int v = 0; v < DV; ++v) {
      _mm512_storeu_ps(acc + h * b.dim + 16 * v,
                       _mm512_add_ps(a0[h][v], a1[h][v]));
    }
  }
}

template <class Kv>
void ValuesGeneric(const float* p, int64_t p_stride, const AttnBlock& b,
                   float* acc) {
  const auto* kv = static_cast<const typename Kv::T*>(b.kv);
  for (int64_t h = 0; h < b.heads; ++h) {
    for (int64_t d = 0; d < b.dim; d += 16) {
      const __mmask16 m = TailMask(b.dim - d);
      __m512 a = _mm512_maskz_loadu_ps(m, acc + h * b.dim + d);
      for (int64_t t = 0; t < b.count; ++t) {
        a = _mm512_fmadd_ps(_mm512_set1_ps(p[h * p_stride + t]),
                            Kv::LoadMasked(m, kv + t * b.kv_stride + d), a);
      }
      _mm512_mask_storeu_ps(acc + h * b.dim + d, m, a);
    }
  }
}

template <class Kv>
void Scores(const AttnBlock& b, float* scores, int64_t score_stride) {
  switch (b.dim % 16 == 0 ? b.dim / 16 : 0) {
    case 2:
      return ScoresFixed<2, Kv>(b, scores, score_stride);
    case 4:
      // Two or three heads per KV head share each key row's loads.
      if (b.heads == 3) return ScoresGrouped<4, 3, Kv>(b, scores, score_stride);
      if (b.heads == 2) return ScoresGrouped<4, 2, Kv>(b, scores, score_stride);
      return ScoresFixed<4, Kv>(b, scores, score_stride);
    case 6:
      return ScoresFixed<6, Kv>(b, scores, score_stride);
    case 8:
      return ScoresFixed<8, Kv>(b, scores, score_stride);
    case 16:
      return ScoresFixed<16, Kv>(b, scores, score_stride);
    default:
      return ScoresGeneric<Kv>(b, scores, score_stride);
  }
}

template <class Kv>
void Values(const float* p, int64_t p_stride, const AttnBlock& b, float* acc) {
  switch (b.dim % 16 == 0 ? b.dim / 16 : 0) {
    case 2:
      return ValuesFixed<2, Kv>(p, p_stride, b, acc);
    case 4:
      // Two or three heads per KV head fit the registers together.
      if (b.heads == 3) return ValuesGrouped<4, 3, Kv>(p, p_stride, b, acc);
      if (b.heads == 2) return ValuesGrouped<4, 2, Kv>(p, p_stride, b, acc);
      return ValuesFixed<4, Kv>(p, p_stride, b, acc);
    case 6:
      return ValuesFixed<6, Kv>(p, p_stride, b, acc);
    case 8:
      return ValuesFixed<8, Kv>(p, p_stride, b, acc);
    case 16:
      return ValuesFixed<16, Kv>(p, p_stride, b, acc);
    default:
      return ValuesGeneric<Kv>(p, p_stride, b, acc);
  }
}

}  // namespace

void Avx512AttnScores(const AttnBlock& b, float* scores, int64_t score_stride) {
  if (b.kv_bf16) return Scores<Bf16Kv>(b, scores, score_stride);
  Scores<F32Kv>(b, scores, score_stride);
}

void Avx512AttnValues(const float* p, int64_t p_stride, const AttnBlock& b,
                      float* acc) {
  if (b.kv_bf16) return Values<Bf16Kv>(p, p_stride, b, acc);
  Values<F32Kv>(p, p_stride, b, acc);
}

}  // namespace infernum::kernels::cpu

#pragma GCC diagnostic pop
#pragma GCC pop_options
