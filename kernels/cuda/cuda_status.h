// Internal: cudaError_t -> absl::Status.
#pragma once

#include <cuda_runtime_api.h>

#include <string_view>

#include "absl/status/status.h"

namespace infernum::kernels::cuda {

// OK for cudaSuccess. Out of memory -> ResourceExhausted; a missing driver or
// device -> Unavailable; invalid arguments -> InvalidArgument; anything else
// -> Internal. The message is "<what>: <cudaGetErrorName> (<description>)".
// Clears the (non-sticky) last-error state so later calls do not see it.
absl::Status CudaStatus(cudaError_t err, std::string_view what);

}  // namespace infernum::kernels::cuda

#define RETURN_IF_CUDA_ERROR(expr, what)                               \
  do {                                                                 \
    const cudaError_t _infernum_cuda_err = (expr);                     \
    if (_infernum_cuda_err != cudaSuccess)                             \
      return ::infernum::kernels::cuda::CudaStatus(_infernum_cuda_err, \
                                                   (what));            \
  } while (0)
