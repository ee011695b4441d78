// Softmax and Argmax over the last dim of [n, V] f32 logits.
#include "common/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/validate.h"

namespace infernum::kernels::cpu {

absl::Status Softmax(const CpuContext& ctx, const SoftmaxParams& p) {
  constexpr std::string_view kOp = "Softmax";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {DType::kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {DType::kF32}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "out", p.out));
  const int64_t v = p.x.dim(1);
  if (v == 0) return absl::OkStatus();
  const float* x = p.x.as<float>();
  float* out = p.out.as<float>();
  const VecKernels& vec = *ctx.vec;
  ParallelRows(ctx, p.x.dim(0), 16 * v, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float max = vec.max(x + i * v, v);
      const float sum = vec.exp_shift_sum(x + i * v, max, out + i * v, v);
      vec.scale(out + i * v, 1.0f / sum, out + i * v, v);
    }
  });
  return absl::OkStatus();
}

absl::Status Argmax(const CpuContext& ctx, const ArgmaxParams& p) {
  constexpr std::string_view kOp = "Argmax";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {DType::kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 1, {DType::kI32}));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, p.x.dim(0)));
  const int64_t v = p.x.dim(1);
  if (v == 0 && p.x.dim(0) > 0) {
    return absl::InvalidArgumentError("Argmax: x has no columns");
  }
  const float* x = p.x.as<float>();
  int32_t* out = p.out.as<int32_t>();
  const VecKernels& vec = *ctx.vec;
  ParallelRows(ctx, p.x.dim(0), v, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = static_cast<int32_t>(vec.argmax(x + i * v, v));
    }
  });
  return absl::OkStatus();
}

}  // namespace infernum::kernels::cpu
