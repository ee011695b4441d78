// Device probes for `infernum bench`: the copy bandwidth and GEMM rate of a
// kernels::Backend, measured through the generic Backend interface only (no
// device-specific code), so that every figure of a run can be put against
// what the same device measures in the same process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace infernum::cli {

struct CopyBandwidth {
  // Bytes read plus bytes written per second (2 x buffer_bytes per copy):
  // the convention of `infernum bench`'s CPU memcpy figure and of
  // cuda_bench's "D2D copy (read + write)". Half of it is the "copy rate"
  // (bytes copied per second) other tools may report.
  double bytes_per_s = 0;
  size_t buffer_bytes = 0;  // Each copy moves this many bytes.
  int copies_per_rep = 0;
  int reps = 0;
  double best_rep_s = 0;  // Fastest repetition (copies_per_rep copies).
};

// Copies a buffer_bytes buffer to another with Backend::CopyOnDevice,
// copies_per_rep times between Synchronize calls (amortizing the sync), best
// of `reps` (after one untimed copy that also touches every page). Allocates
// 2 x buffer_bytes on the device and frees them before returning.
// InvalidArgument for non-positive sizes or counts; the backend's errors
// (ResourceExhausted when the buffers do not fit) otherwise.
absl::StatusOr<CopyBandwidth> MeasureDeviceCopyBandwidth(
    kernels::Backend& backend, size_t buffer_bytes, int copies_per_rep,
    int reps);

// Host memory bandwidth: copies a buffer_bytes host buffer with std::memcpy
// split over num_threads threads, best of `reps` (the CPU backend's memory
// is host memory, and its CopyOnDevice is one thread's memmove, which does
// not reach the bus's rate on most machines). Same convention (read +
// write) as MeasureDeviceCopyBandwidth. InvalidArgument for non-positive
// arguments.
absl::StatusOr<CopyBandwidth> MeasureHostCopyBandwidth(size_t buffer_bytes,
                                                       int num_threads,
                                                       int reps);

// out[m, n] = x[m, k] @ w[n, k]^T.
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  double Flops() const { return 2.0 * m * n * k; }
  std::string ToString() const;  // "[m x k] x [n x k]^T"
};

// The GEMM-peak shape for a device: [8192 x 8192] x [8192 x 8192]^T on a
// GPU (compute-bound on every current GPU), [256 x 2048] x [2048 x 2048]^T
// on the CPU (a large-batch prefill-like GEMM that stays quick).
GemmShape DefaultGemmShape(kernels::DeviceType device);

// Parses "MxNxK" (e.g. "8192x8192x8192"); InvalidArgument naming the flag
// otherwise or when a dimension is not in [1, 65536].
absl::StatusOr<GemmShape> ParseGemmShape(std::string_view text);

struct GemmPeak {
  GemmShape shape;
  kernels::DType weight_dtype = kernels::DType::kBF16;
  kernels::DType activation_dtype = kernels::DType::kF32;
  double flops_per_s = 0;
  int iters_per_rep = 0;
  int reps = 0;
  double best_rep_s = 0;
};

// Times Backend::Matmul with bf16 weights [n, k] and activation_dtype()
// activations [m, k] -> [m, n] (small random values), iters_per_rep calls
// between Synchronize calls, best of `reps` after one untimed call (library
// heuristics, first-touch). Allocates the three operands on the device and
// frees them before returning. Errors as MeasureDeviceCopyBandwidth.
absl::StatusOr<GemmPeak> MeasureGemmPeak(kernels::Backend& backend,
                                         const GemmShape& shape,
                                         int iters_per_rep, int reps);

}  // namespace infernum::cli
