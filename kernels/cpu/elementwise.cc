// Embedding (row gather), SiluMul, Add and Cast.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/validate.h"

namespace infernum::kernels::cpu {
namespace {
constexpr auto kF32 = DType::kF32;
constexpr auto kBF16 = DType::kBF16;
constexpr auto kF16 = DType::kF16;
constexpr auto kI32 = DType::kI32;
}  // namespace

absl::Status Embedding(const CpuContext& ctx, const EmbeddingParams& p) {
  constexpr std::string_view kOp = "Embedding";
  RETURN_IF_ERROR(CheckTensor(kOp, "table", p.table, 2, {kF32, kBF16, kF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "ids", p.ids, 1, {kI32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {kF32, kBF16, kF16}));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, p.ids.dim(0)));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 1, p.table.dim(1)));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "table", p.table, "out", p.out));
  const int64_t n = p.ids.dim(0);
  const int64_t h = p.table.dim(1);
  const int64_t rows = p.table.dim(0);
  const int32_t* ids = p.ids.as<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Embedding: ids[", i, "] = ", ids[i], " is outside [0, ", rows, ")"));
    }
  }
  const size_t in_row = h * DTypeSize(p.table.dtype);
  const size_t out_row = h * DTypeSize(p.out.dtype);
  const auto* table = static_cast<const char*>(p.table.data);
  auto* out = static_cast<char*>(p.out.data);
  ParallelRows(ctx, n, h, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      ConvertElements(table + ids[i] * in_row, p.table.dtype, out + i * out_row,
                      p.out.dtype, h);
    }
  });
  return absl::OkStatus();
}

absl::Status SiluMul(const CpuContext& ctx, const SiluMulParams& p) {
  constexpr std::string_view kOp = "SiluMul";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {kF32}));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, p.x.dim(0)));
  RETURN_IF_ERROR(CheckDim(kOp, "x", p.x, 1, 2 * p.out.dim(1)));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "out", p.out));
  const int64_t d = p.out.dim(1);
  const float* x = p.x.as<float>();
  float* out = p.out.as<float>();
  const VecKernels& vec = *ctx.vec;
  ParallelRows(ctx, p.x.dim(0), 8 * d, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      vec.silu_mul(x + 2 * d * i, x + 2 * d * i + d, out + d * i, d);
    }
  });
  return absl::OkStatus();
}

absl::Status Add(const CpuContext& ctx, const AddParams& p) {
  constexpr std::string_view kOp = "Add";
  RETURN_IF_ERROR(CheckTensor(kOp, "a", p.a, 2, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "b", p.b, 2, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {kF32}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "a", p.a, "b", p.b));
  RETURN_IF_ERROR(CheckSameShape(kOp, "a", p.a, "out", p.out));
  const int64_t h = p.a.dim(1);
  const float* a = p.a.as<float>();
  const float* b = p.b.as<float>();
  float* out = p.out.as<float>();
  const VecKernels& vec = *ctx.vec;
  ParallelRows(ctx, p.a.dim(0), h, [&](int64_t begin, int64_t end) {
    vec.add(a + begin * h, b + begin * h, out + begin * h, (end - begin) * h);
  });
  return absl::OkStatus();
}

absl::Status Cast(const CpuContext& ctx, const CastParams& p) {
  constexpr std::string_view kOp = "Cast";
  if (p.x.defined() && p.x.dtype == kI32) {
    RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, p.x.ndim, {kI32}));
    RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, p.x.ndim, {kI32}));
  } else {
    RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, p.x.ndim, {kF32, kBF16, kF16}));
    RETURN_IF_ERROR(
        CheckTensor(kOp, "out", p.out, p.x.ndim, {kF32, kBF16, kF16}));
  }
  RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "out", p.out));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "out", p.out));
  const int64_t numel = p.x.numel();
  constexpr int64_t kChunk = 1 << 14;
  const int64_t chunks = (numel + kChunk - 1) / kChunk;
  const size_t in_size = DTypeSize(p.x.dtype);
  const size_t out_size = DTypeSize(p.out.dtype);
  ParallelRows(ctx, chunks, kChunk, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kChunk;
    const int64_t last = std::min(numel, end * kChunk);
    ConvertElements(static_cast<const char*>(p.x.data) + first * in_size,
                    p.x.dtype,
                    static_cast<char*>(p.out.data) + first * out_size,
                    p.out.dtype, last - first);
  });
  return absl::OkStatus();
}

}  // namespace infernum::kernels::cpu
