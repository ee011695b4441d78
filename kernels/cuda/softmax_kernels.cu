#include "kernels/cuda/argmax_device.h"
#include "kernels/cuda/device_util.h"
#include "kernels/cuda/softmax_kernels.h"

namespace infernum::kernels::cuda {
namespace {

constexpr int kThreads = 512;

// One block per row: max, sum of exp(x - max), then the normalized write.
// Each element is read and written by the same thread, so out may alias x.
__global__ void SoftmaxKernel(SoftmaxLaunch p) {
  __shared__ float scratch[32];
  for (int64_t row = blockIdx.x; row < p.rows; row += gridDim.x) {
    const float* x = p.x + row * p.cols;
    float* out = p.out + row * p.cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x)
      m = fmaxf(m, x[j]);
    m = BlockMax(m, scratch);
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x)
      s += expf(x[j] - m);
    const float inv = 1.0f / BlockSum(s, scratch);
    for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x)
      out[j] = expf(x[j] - m) * inv;
    __syncthreads();
  }
}

__global__ void ArgmaxKernel(ArgmaxLaunch p) {
  __shared__ ArgmaxPair scratch[32];
  for (int64_t row = blockIdx.x; row < p.rows; row += gridDim.x) {
    const float* x = p.x + row * p.cols;
    ArgmaxPair best = EmptyArgmax();
    for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x) {
      ArgmaxTake(best, x[j], static_cast<int32_t>(j));
    }
    best = BlockArgmax(best, scratch);
    if (threadIdx.x == 0) p.out[row] = best.index == INT_MAX ? 0 : best.index;
    __syncthreads();
  }
}

}  // namespace

cudaError_t LaunchSoftmax(const SoftmaxLaunch& p, cudaStream_t stream) {
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  SoftmaxKernel<<<GridFor(p.rows, 1, 1 << 16), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchArgmax(const ArgmaxLaunch& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  if (p.cols == 0) return cudaErrorInvalidValue;
  ArgmaxKernel<<<GridFor(p.rows, 1, 1 << 16), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace infernum::kernels::cuda
