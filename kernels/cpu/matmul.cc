// Matmul: validation, x preparation, the split of output columns across
// threads, and the portable scalar kernel.
#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/matmul_kernels.h"
#include "kernels/cpu/validate.h"
#include "kernels/op_checks.h"

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

namespace {

// Consecutive row blocks of w, each written to its own [m, n] output.
struct OutBlock {
  float* out;
  int64_t n;
};

// x prepared for `kernel` (MatmulJob::x / x_bf16), row by row on the pool
// for a long prefill; job.x, job.x_bf16 and job.x_stride are set. The lease
// holds the prepared copy.
std::optional<ScratchPool::Lease> PrepareX(const CpuContext& ctx,
                                           const MatmulKernel& kernel,
                                           bool bf16_dot, MatmulJob& job) {
  std::optional<ScratchPool::Lease> x_buf;
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
    x_buf.emplace(ctx.scratch->Acquire((job.m * k + 1) / 2));
    auto* x_bf16 = reinterpret_cast<uint16_t*>(x_buf->data());
    ParallelRows(ctx, job.m, 4 * k, [&](int64_t begin, int64_t end) {
      kernel.round_x_bf16(job.x + begin * k, (end - begin) * k,
                          x_bf16 + begin * k);
    });
    job.x_bf16 = x_bf16;
  } else if (job.w_dtype == DType::kBF16 &&
             kernel.interleave_bf16_x != nullptr) {
    x_buf.emplace(ctx.scratch->Acquire(job.m * k));
    float* x = x_buf->data();
    ParallelRows(ctx, job.m, 4 * k, [&](int64_t begin, int64_t end) {
      kernel.interleave_bf16_x(job.x + begin * k, end - begin, k,
                               x + begin * k);
    });
    job.x = x;
  }
  return x_buf;
}

// out_b = x @ (block b of w)^T for every block; each output column's
// arithmetic is the kernel's alone, so blocking never changes results.
absl::Status RunBlocks(const CpuContext& ctx, const Tensor& x, const Tensor& w,
                       const OutBlock* blocks, int num_blocks,
                       bool accumulate) {
  const bool bf16_dot = ctx.matmul_precision == CpuMatmulPrecision::kBf16 &&
                        w.dtype == DType::kBF16;
  const MatmulKernel& kernel =
      bf16_dot ? Bf16DotKernelFor(ctx) : KernelFor(ctx.isa);
  MatmulJob job;
  job.m = x.dim(0);
  job.k = x.dim(1);
  job.x = x.as<float>();
  job.x_stride = job.k;
  job.w_dtype = w.dtype;
  job.accumulate = accumulate;
  if (job.m == 0 || w.dim(0) == 0) return absl::OkStatus();
  const std::optional<ScratchPool::Lease> x_buf =
      PrepareX(ctx, kernel, bf16_dot, job);
  // Block b's job, and the first of its granules of output columns.
  const int64_t granule = kernel.n_granule;
  MatmulJob jobs[SplitMatmulParams::kMaxOuts];
  int64_t first_unit[SplitMatmulParams::kMaxOuts + 1] = {0};
  const size_t w_row_bytes = job.k * DTypeSize(w.dtype);
  for (int b = 0, row = 0; b < num_blocks; row += blocks[b].n, ++b) {
    jobs[b] = job;
    jobs[b].w = static_cast<const char*>(w.data) + row * w_row_bytes;
    jobs[b].n = blocks[b].n;
    jobs[b].out = blocks[b].out;
    first_unit[b + 1] = first_unit[b] + (blocks[b].n + granule - 1) / granule;
  }
  const int64_t units = first_unit[num_blocks];
  const auto run_units = [&](int64_t begin, int64_t end) {
    for (int b = 0; b < num_blocks && begin < end; ++b) {
      const int64_t u_end = std::min(end, first_unit[b + 1]);
      if (begin >= u_end) continue;
      const int64_t base = first_unit[b];
      kernel.run(jobs[b], (begin - base) * granule,
                 std::min(jobs[b].n, (u_end - base) * granule));
      begin = u_end;
    }
  };
  const int64_t work = job.m * w.dim(0) * std::max<int64_t>(job.k, 1);
  if (work < 4 * kMinParallelWork) {
    run_units(0, units);
    return absl::OkStatus();
  }
  // Whole granules of output columns, handed out dynamically in about four
  // chunks per thread so a thread that falls behind (e.g. shares its core)
  // does not hold up the op.
  const int64_t chunk =
      std::max<int64_t>(1, units / (4 * ctx.pool->num_threads()));
  ParallelDynamic(ctx, units, chunk, [&](int, int64_t begin, int64_t end) {
    run_units(begin, end);
  });
  return absl::OkStatus();
}

}  // namespace

absl::Status Matmul(const CpuContext& ctx, const MatmulParams& p) {
  RETURN_IF_ERROR(Validate(p));
  const OutBlock block{p.out.as<float>(), p.w.dim(0)};
  return RunBlocks(ctx, p.x, p.w, &block, 1, p.accumulate);
}

absl::Status SplitMatmul(const CpuContext& ctx, const SplitMatmulParams& p) {
  constexpr std::string_view kOp = "SplitMatmul";
  RETURN_IF_ERROR(CheckSplitMatmul(p));
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {DType::kF32}));
  RETURN_IF_ERROR(
      CheckTensor(kOp, "w", p.w, 2, {DType::kF32, DType::kBF16, DType::kF16}));
  OutBlock blocks[SplitMatmulParams::kMaxOuts];
  for (int i = 0; i < p.num_outs; ++i) {
    const std::string name = absl::StrCat("outs[", i, "]");
    RETURN_IF_ERROR(CheckTensor(kOp, name, p.outs[i], 2, {DType::kF32}));
    RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, name, p.outs[i]));
    RETURN_IF_ERROR(CheckNoAlias(kOp, "w", p.w, name, p.outs[i]));
    for (int j = 0; j < i; ++j) {
      RETURN_IF_ERROR(CheckNoAlias(kOp, absl::StrCat("outs[", j, "]"),
                                   p.outs[j], name, p.outs[i]));
    }
    blocks[i] = {p.outs[i].as<float>(), p.outs[i].dim(1)};
  }
  return RunBlocks(ctx, p.x, p.w, blocks, p.num_outs, /*accumulate=*/false);
}

}  // namespace infernum::kernels::cpu
