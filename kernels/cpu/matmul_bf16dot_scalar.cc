// Portable scalar bf16-dot matmul kernel (see matmul_kernels.h): the
// reference the SIMD kernels are checked against, and the fallback for CPUs
// without AVX2. DAZ and FTZ are applied explicitly (Flush), and std::fma is
// correctly rounded, so it does not depend on MXCSR or on FMA hardware.
#include <cmath>
#include <cstdint>

#include "kernels/cpu/matmul_kernels.h"
#include "kernels/dtype.h"

namespace infernum::kernels::cpu {
namespace {

constexpr int64_t kChunk = 32;
constexpr int kLanes = 16;

// Denormals read (or written) as zero of the same sign.
float Flush(float v) {
  return std::fpclassify(v) == FP_SUBNORMAL ? std::copysign(0.0f, v) : v;
}

// Element e of a bf16 row of k elements, widened; zero past the end.
float Element(const uint16_t* row, int64_t e, int64_t k) {
  return e < k ? Flush(Bf16ToF32(row[e])) : 0.0f;
}

// The 16 lanes summed in _mm512_reduce_add_ps's order.
float ReduceLanes(const float (&a)[kLanes]) {
  float half[8], quarter[4];
  for (int i = 0; i < 8; ++i) half[i] = a[i] + a[i + 8];
  for (int i = 0; i < 4; ++i) quarter[i] = half[i] + half[i + 4];
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

float Dot(const uint16_t* x, const uint16_t* w, int64_t k) {
  float acc[kLanes] = {};
  for (int64_t c = 0; c < k; c += kChunk) {
    for (int l = 0; l < kLanes; ++l) {
      const int64_t even = c + 2 * l, odd = even + 1;
      acc[l] = Flush(std::fma(Element(x, odd, k), Element(w, odd, k), acc[l]));
      acc[l] =
          Flush(std::fma(Element(x, even, k), Element(w, even, k), acc[l]));
    }
  }
  return ReduceLanes(acc);
}

void Run(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  const auto* w = static_cast<const uint16_t*>(job.w);
  for (int64_t j = n_begin; j < n_end; ++j) {
    for (int64_t i = 0; i < job.m; ++i) {
      const float dot =
          Dot(job.x_bf16 + i * job.x_stride, w + j * job.k, job.k);
      float& o = job.out[i * job.n + j];
      o = job.accumulate ? o + dot : dot;
    }
  }
}

void RoundX(const float* x, int64_t count, uint16_t* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = F32ToBf16(x[i]);
}

}  // namespace

const MatmulKernel& ScalarBf16DotKernel() {
  static constexpr MatmulKernel kKernel = {1, Run, nullptr, RoundX};
  return kKernel;
}

}  // namespace infernum::kernels::cpu
