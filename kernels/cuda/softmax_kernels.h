// Internal: launchers for row-wise Softmax and Argmax over f32 [rows, cols].
#pragma once

#include "kernels/cuda/launch_common.h"

namespace infernum::kernels::cuda {

// out[i, :] = softmax(x[i, :]) in f32; out may alias x.
struct SoftmaxLaunch {
  const float* x;
  float* out;
  int64_t rows, cols;
};
cudaError_t LaunchSoftmax(const SoftmaxLaunch& p, cudaStream_t stream);

// out[i] = lowest index of the maximum of x[i, :]; NaNs never win; 0 when the
// row is all NaN. cols >= 1.
struct ArgmaxLaunch {
  const float* x;
  int32_t* out;
  int64_t rows, cols;
};
cudaError_t LaunchArgmax(const ArgmaxLaunch& p, cudaStream_t stream);

}  // namespace infernum::kernels::cuda
