// Matmul: validation, x preparation, the split of output columns across
// threads, and the portable scalar kernel.
#include <algorithm>
#include <optional>
#include <vector>

#include "common/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/matmul_kernels.h"
#include "kernels/cpu/validate.h"

namespace infernum::kernels::cpu {
namespace {

void ScalarMatmulRange(const MatmulJob& job, int64_t n_begin, int64_t n_end) {
  const int64_t k = job.k;
  std::vector<float> w_row(job.w_dtype == DType::kF32 ? 0 : k);
  const size_t w_row_bytes = k * DTypeSize(job.w_dtype);
  for (int64_t j = n_begin; j < n_end; ++j) {
    const void* w_src = static_cast<const char*>(job.w) + j * w_row_bytes;
    const float* w = static_cast<const float*>(w_src);
    if (job.w_dtype != DType::kF32) {
      ConvertElements(w_src, job.w_dtype, w_row.data(), DType::kF32, k);
      w = w_row.data();
    }
    for (int64_t i = 0; i < job.m; ++i) {
      const float* x = job.x + i * job.x_stride;
      float acc[4] = {0, 0, 0, 0};
      int64_t kk = 0;
      for (; kk + 4 <= k; kk += 4) {
        for (int u = 0; u < 4; ++u) acc[u] += x[kk + u] * w[kk + u];
      }
      for (; kk < k; ++kk) acc[0] += x[kk] * w[kk];
      const float dot = (acc[0] + acc[1]) + (acc[2] + acc[3]);
      float& o = job.out[i * job.n + j];
      o = job.accumulate ? o + dot : dot;
    }
  }
}

const MatmulKernel& KernelFor(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return Avx512MatmulKernel();
    case CpuIsa::kAvx2:
      return Avx2MatmulKernel();
    case CpuIsa::kScalar:
      break;
  }
  return ScalarMatmulKernel();
}

const MatmulKernel& Bf16DotKernelFor(const CpuContext& ctx) {
  switch (ctx.isa) {
    case CpuIsa::kAvx512:
      return ctx.avx512_bf16 ? Avx512Bf16DotKernel()
                             : Avx512Bf16DotEmulatedKernel();
    case CpuIsa::kAvx2:
      return Avx2Bf16DotKernel();
    case CpuIsa::kScalar:
      break;
  }
  return ScalarBf16DotKernel();
}

absl::Status Validate(const MatmulParams& p) {
  constexpr std::string_view kOp = "Matmul";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {DType::kF32}));
  RETURN_IF_ERROR(
      CheckTensor(kOp, "w", p.w, 2, {DType::kF32, DType::kBF16, DType::kF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {DType::kF32}));
  RETURN_IF_ERROR(CheckDim(kOp, "w", p.w, 1, p.x.dim(1)));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, p.x.dim(0)));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 1, p.w.dim(0)));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "out", p.out));
  return CheckNoAlias(kOp, "w", p.w, "out", p.out);
}

}  // namespace

const MatmulKernel& ScalarMatmulKernel() {
  static constexpr MatmulKernel kKernel = {1, ScalarMatmulRange, nullptr};
  return kKernel;
}

absl::Status Matmul(const CpuContext& ctx, const MatmulParams& p) {
  RETURN_IF_ERROR(Validate(p));
  const bool bf16_dot = ctx.matmul_precision == CpuMatmulPrecision::kBf16 &&
                        p.w.dtype == DType::kBF16;
  const MatmulKernel& kernel =
      bf16_dot ? Bf16DotKernelFor(ctx) : KernelFor(ctx.isa);
  MatmulJob job;
  job.m = p.x.dim(0);
  job.k = p.x.dim(1);
  job.n = p.w.dim(0);
  job.x = p.x.as<float>();
  job.x_stride = job.k;
  job.w = p.w.data;
  job.w_dtype = p.w.dtype;
  job.out = p.out.as<float>();
  job.accumulate = p.accumulate;
  if (job.m == 0 || job.n == 0) return absl::OkStatus();
  std::optional<ScratchPool::Lease> x_buf;
  // x is prepared row by row (on the pool for a long prefill).
  const int64_t k = job.k;
  if (bf16_dot && kernel.pack_x_bf16 != nullptr) {
    // bf16 values, two per scratch float.
    const int64_t stride = PackedXStride(k);
    x_buf.emplace(ctx.scratch->Acquire((job.m * stride + 1) / 2));
    auto* x_bf16 = reinterpret_cast<uint16_t*>(x_buf->data());
    ParallelRows(ctx, job.m, 4 * k, [&](int64_t begin, int64_t end) {
      kernel.pack_x_bf16(job.x, job.m, k, begin, end, x_bf16);
    });
    job.x_bf16 = x_bf16;
    job.x_stride = stride;
  } else if (bf16_dot) {
    // bf16 values, two per scratch float.
    x_buf.emplace(ctx.scratch->Acquire((job.m * k + 1) / 2));
    auto* x_bf16 = reinterpret_cast<uint16_t*>(x_buf->data());
    ParallelRows(ctx, job.m, 4 * k, [&](int64_t begin, int64_t end) {
      kernel.round_x_bf16(job.x + begin * k, (end - begin) * k,
                          x_bf16 + begin * k);
    });
    job.x_bf16 = x_bf16;
  } else if (p.w.dtype == DType::kBF16 && kernel.interleave_bf16_x != nullptr) {
    x_buf.emplace(ctx.scratch->Acquire(job.m * k));
    float* x = x_buf->data();
    ParallelRows(ctx, job.m, 4 * k, [&](int64_t begin, int64_t end) {
      kernel.interleave_bf16_x(job.x + begin * k, end - begin, k,
                               x + begin * k);
    });
    job.x = x;
  }
  const int64_t work = job.m * job.n * std::max<int64_t>(job.k, 1);
  if (work < 4 * kMinParallelWork) {
    kernel.run(job, 0, job.n);
    return absl::OkStatus();
  }
  // Whole granules of output columns, handed out dynamically in about four
  // chunks per thread so a thread that falls behind (e.g. shares its core)
  // does not hold up the op.
  const int64_t granule = kernel.n_granule;
  const int64_t units = (job.n + granule - 1) / granule;
  const int64_t chunk =
      std::max<int64_t>(1, units / (4 * ctx.pool->num_threads()));
  ParallelDynamic(ctx, units, chunk, [&](int, int64_t begin, int64_t end) {
    kernel.run(job, begin * granule, std::min(job.n, end * granule));
  });
  return absl::OkStatus();
}

}  // namespace infernum::kernels::cpu
