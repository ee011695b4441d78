#include "cli/bench_device.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "kernels/dtype.h"

namespace infernum::cli {
namespace {

using Clock = std::chrono::steady_clock;
using kernels::Backend;
using kernels::DeviceBuffer;
using kernels::DType;

// One warm-up call of fn, then the best wall time of `reps` x (iters calls
// of fn, then Synchronize).
absl::StatusOr<double> BestOf(Backend& backend, int iters, int reps,
                              const std::function<absl::Status()>& fn) {
  kernels::Stream* stream = backend.default_stream();
  RETURN_IF_ERROR(fn());
  RETURN_IF_ERROR(backend.Synchronize(stream));
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < iters; ++i) RETURN_IF_ERROR(fn());
    RETURN_IF_ERROR(backend.Synchronize(stream));
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r == 0 || s < best) best = s;
  }
  return best;
}

// Uploads `count` pseudo-random values in [-1, 1) of `dtype` to `dst`.
absl::Status FillRandom(Backend& backend, void* dst, int64_t count, DType dtype,
                        uint32_t seed) {
  const size_t size = kernels::DTypeSize(dtype);
  std::vector<char> host(static_cast<size_t>(count) * size);
  uint32_t x = seed;
  for (int64_t i = 0; i < count; ++i) {
    x = x * 1664525u + 1013904223u;
    const float v = static_cast<float>(x >> 8) / 8388608.0f - 1.0f;
    char* out = host.data() + i * size;
    if (dtype == DType::kF32) {
      std::memcpy(out, &v, 4);
    } else {
      const uint16_t h =
          dtype == DType::kBF16 ? kernels::F32ToBf16(v) : kernels::F32ToF16(v);
      std::memcpy(out, &h, 2);
    }
  }
  kernels::Stream* stream = backend.default_stream();
  RETURN_IF_ERROR(backend.CopyToDevice(dst, host.data(), host.size(), stream));
  return backend.Synchronize(stream);  // `host` dies on return.
}

}  // namespace

absl::StatusOr<CopyBandwidth> MeasureDeviceCopyBandwidth(Backend& backend,
                                                         size_t buffer_bytes,
                                                         int copies_per_rep,
                                                         int reps) {
  if (buffer_bytes == 0 || copies_per_rep < 1 || reps < 1) {
    return absl::InvalidArgumentError(
        "copy bandwidth probe: buffer size, copies and reps must be positive");
  }
  ASSIGN_OR_RETURN(DeviceBuffer src, backend.Allocate(buffer_bytes));
  ASSIGN_OR_RETURN(DeviceBuffer dst, backend.Allocate(buffer_bytes));
  kernels::Stream* stream = backend.default_stream();
  RETURN_IF_ERROR(backend.Memset(src.data(), 1, buffer_bytes, stream));
  RETURN_IF_ERROR(backend.Memset(dst.data(), 0, buffer_bytes, stream));
  auto copy = [&] {
    return backend.CopyOnDevice(dst.data(), src.data(), buffer_bytes, stream);
  };
  ASSIGN_OR_RETURN(const double best,
                   BestOf(backend, copies_per_rep, reps, copy));
  CopyBandwidth r;
  r.buffer_bytes = buffer_bytes;
  r.copies_per_rep = copies_per_rep;
  r.reps = reps;
  r.best_rep_s = best;
  r.bytes_per_s = 2.0 * static_cast<double>(buffer_bytes) * copies_per_rep /
                  std::max(best, 1e-12);
  return r;
}

absl::StatusOr<CopyBandwidth> MeasureHostCopyBandwidth(size_t buffer_bytes,
                                                       int num_threads,
                                                       int reps) {
  if (buffer_bytes == 0 || num_threads < 1 || reps < 1) {
    return absl::InvalidArgumentError(
        "host copy probe: buffer size, threads and reps must be positive");
  }
  std::vector<char> src(buffer_bytes, 1), dst(buffer_bytes, 0);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const Clock::time_point t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < num_threads; ++t) {
      threads.emplace_back([&, t] {
        const size_t b = buffer_bytes * t / num_threads,
                     e = buffer_bytes * (t + 1) / num_threads;
        std::memcpy(dst.data() + b, src.data() + b, e - b);
      });
    }
    for (std::thread& th : threads) th.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r == 0 || s < best) best = s;
  }
  CopyBandwidth out;
  out.buffer_bytes = buffer_bytes;
  out.copies_per_rep = 1;
  out.reps = reps;
  out.best_rep_s = best;
  out.bytes_per_s =
      2.0 * static_cast<double>(buffer_bytes) / std::max(best, 1e-12);
  return out;
}

std::string GemmShape::ToString() const {
  return absl::StrCat("[", m, " x ", k, "] x [", n, " x ", k, "]^T");
}

GemmShape DefaultGemmShape(kernels::DeviceType device) {
  if (device == kernels::DeviceType::kCpu) return {256, 2048, 2048};
  return {8192, 8192, 8192};
}

absl::StatusOr<GemmShape> ParseGemmShape(std::string_view text) {
  const std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(text.data(), text.size()), 'x');
  int64_t dims[3] = {0, 0, 0};
  bool ok = parts.size() == 3;
  for (size_t i = 0; ok && i < 3; ++i) {
    ok = absl::SimpleAtoi(parts[i], &dims[i]) && dims[i] >= 1 &&
         dims[i] <= 65536;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gemm-shape: expected MxNxK with each dimension in "
                     "[1, 65536] (e.g. 8192x8192x8192), got '",
                     std::string(text), "'"));
  }
  return GemmShape{dims[0], dims[1], dims[2]};
}

absl::StatusOr<GemmPeak> MeasureGemmPeak(Backend& backend,
                                         const GemmShape& shape,
                                         int iters_per_rep, int reps) {
  if (shape.m < 1 || shape.n < 1 || shape.k < 1 || iters_per_rep < 1 ||
      reps < 1) {
    return absl::InvalidArgumentError(
        "GEMM probe: dimensions, iterations and reps must be positive");
  }
  const DType act = backend.activation_dtype();
  const size_t act_size = kernels::DTypeSize(act);
  ASSIGN_OR_RETURN(DeviceBuffer x,
                   backend.Allocate(shape.m * shape.k * act_size));
  ASSIGN_OR_RETURN(
      DeviceBuffer w,
      backend.Allocate(shape.n * shape.k * kernels::DTypeSize(DType::kBF16)));
  ASSIGN_OR_RETURN(DeviceBuffer out,
                   backend.Allocate(shape.m * shape.n * act_size));
  RETURN_IF_ERROR(FillRandom(backend, x.data(), shape.m * shape.k, act, 1));
  RETURN_IF_ERROR(
      FillRandom(backend, w.data(), shape.n * shape.k, DType::kBF16, 2));
  kernels::MatmulParams p;
  p.x = kernels::Tensor(x.data(), act, {shape.m, shape.k});
  p.w = kernels::Tensor(w.data(), DType::kBF16, {shape.n, shape.k});
  p.out = kernels::Tensor(out.data(), act, {shape.m, shape.n});
  kernels::Stream* stream = backend.default_stream();
  auto matmul = [&] { return backend.Matmul(p, stream); };
  ASSIGN_OR_RETURN(const double best,
                   BestOf(backend, iters_per_rep, reps, matmul));
  GemmPeak r;
  r.shape = shape;
  r.activation_dtype = act;
  r.iters_per_rep = iters_per_rep;
  r.reps = reps;
  r.best_rep_s = best;
  r.flops_per_s = shape.Flops() * iters_per_rep / std::max(best, 1e-12);
  return r;
}

}  // namespace infernum::cli
