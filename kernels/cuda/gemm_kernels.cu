#include "kernels/cuda/device_util.h"
#include "kernels/cuda/gemm_kernels.h"

namespace infernum::kernels::cuda {
namespace {

constexpr int kTile = 64;  // Output tile kTile x kTile per block.
constexpr int kDepth = 16;
constexpr int kThreads = 256;  // 16 x 16 threads, 4 x 4 outputs each.

template <typename TX, typename TW, typename TO>
__global__ void __launch_bounds__(kThreads) GemmKernel(GemmLaunch p) {
  __shared__ float xs[kDepth][kTile + 1];
  __shared__ float ws[kDepth][kTile + 1];
  const TX* x = static_cast<const TX*>(p.x);
  const TW* w = static_cast<const TW*>(p.w);
  TO* out = static_cast<TO*>(p.out);
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < p.k; k0 += kDepth) {
    // Each thread loads 4 elements of each tile: (row i, depth d).
    for (int e = threadIdx.x; e < kTile * kDepth; e += kThreads) {
      const int i = e / kDepth, d = e % kDepth;
      const int64_t kk = k0 + d;
      const int64_t xr = row0 + i, wr = col0 + i;
      xs[d][i] = (xr < p.m && kk < p.k) ? ToF(x[xr * p.k + kk]) : 0.0f;
      ws[d][i] = (wr < p.n && kk < p.k) ? ToF(w[wr * p.k + kk]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        a[i] = xs[d][ty + 16 * i];
        b[i] = ws[d][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t r = row0 + ty + 16 * i;
    if (r >= p.m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t c = col0 + tx + 16 * j;
      if (c >= p.n) continue;
      float v = acc[i][j];
      if (p.accumulate) v += ToF(out[r * p.n + c]);
      out[r * p.n + c] = FromF<TO>(v);
    }
  }
}

}  // namespace

cudaError_t LaunchFallbackGemm(const GemmLaunch& p, cudaStream_t stream) {
  if (p.m == 0 || p.n == 0) return cudaSuccess;
  const int64_t grid_x = (p.n + kTile - 1) / kTile,
                grid_y = (p.m + kTile - 1) / kTile;
  if (grid_x > 0x7fffffff || grid_y > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y));
  INFERNUM_DISPATCH_ACT(
      p.x_type, TX,
      INFERNUM_DISPATCH_FLOAT(
          p.w_type, TW, INFERNUM_DISPATCH_ACT(p.out_type, TO, {
            GemmKernel<TX, TW, TO><<<grid, kThreads, 0, stream>>>(p);
          })));
  return cudaGetLastError();
}

}  // namespace infernum::kernels::cuda
