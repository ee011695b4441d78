// RmsNorm (with the fused residual add) and rotary position embedding.
#include <cmath>
#include <vector>

#include "common/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/validate.h"

namespace infernum::kernels::cpu {
namespace {
constexpr auto kF32 = DType::kF32;

// Rotates every head of x ([num_heads, hd] at one token) by (cos, sin).
void RotateHeads(float* x, int64_t num_heads, int64_t hd, const float* cos_v,
                 const float* sin_v) {
  const int64_t half = hd / 2;
  for (int64_t h = 0; h < num_heads; ++h) {
    float* lo = x + h * hd;
    float* hi = lo + half;
    for (int64_t j = 0; j < half; ++j) {
      const float a = lo[j];
      const float b = hi[j];
      lo[j] = a * cos_v[j] - b * sin_v[j];
      hi[j] = b * cos_v[j] + a * sin_v[j];
    }
  }
}

}  // namespace

absl::Status RmsNorm(const CpuContext& ctx, const RmsNormParams& p) {
  constexpr std::string_view kOp = "RmsNorm";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "weight", p.weight, 1,
                              {kF32, DType::kBF16, DType::kF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {kF32}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "out", p.out));
  RETURN_IF_ERROR(CheckDim(kOp, "weight", p.weight, 0, p.x.dim(1)));
  if (p.residual.defined()) {
    RETURN_IF_ERROR(CheckTensor(kOp, "residual", p.residual, 2, {kF32}));
    RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "residual", p.residual));
    RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "residual", p.residual));
    RETURN_IF_ERROR(CheckNoAlias(kOp, "residual", p.residual, "out", p.out));
  }
  if (!(p.eps >= 0.0f)) {
    return absl::InvalidArgumentError("RmsNorm: eps must be >= 0");
  }
  const int64_t h = p.x.dim(1);
  std::vector<float> weight_f32;
  const float* weight = p.weight.as<float>();
  if (p.weight.dtype != kF32) {
    weight_f32.resize(h);
    ConvertElements(p.weight.data, p.weight.dtype, weight_f32.data(), kF32, h);
    weight = weight_f32.data();
  }
  const float* x = p.x.as<float>();
  float* residual = p.residual.defined() ? p.residual.as<float>() : nullptr;
  float* out = p.out.as<float>();
  const VecKernels& vec = *ctx.vec;
  const float inv_h = 1.0f / static_cast<float>(h);
  ParallelRows(ctx, p.x.dim(0), 4 * h, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* src = x + i * h;
      if (residual != nullptr) {
        vec.add(residual + i * h, src, residual + i * h, h);
        src = residual + i * h;
      }
      const float mean_sq = vec.sum_squares(src, h) * inv_h;
      const float inv_rms = 1.0f / std::sqrt(mean_sq + p.eps);
      vec.scale_mul(src, inv_rms, weight, out + i * h, h);
    }
  });
  return absl::OkStatus();
}

absl::Status Rope(const CpuContext& ctx, const RopeParams& p) {
  constexpr std::string_view kOp = "Rope";
  RETURN_IF_ERROR(CheckTensor(kOp, "q", p.q, 3, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "k", p.k, 3, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "positions", p.positions, 1, {DType::kI32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "inv_freq", p.inv_freq, 1, {kF32}));
  const int64_t n = p.q.dim(0);
  const int64_t hd = p.q.dim(2);
  RETURN_IF_ERROR(CheckDim(kOp, "k", p.k, 0, n));
  RETURN_IF_ERROR(CheckDim(kOp, "k", p.k, 2, hd));
  RETURN_IF_ERROR(CheckDim(kOp, "positions", p.positions, 0, n));
  if (hd % 2 != 0) {
    return absl::InvalidArgumentError("Rope: head dim must be even");
  }
  RETURN_IF_ERROR(CheckDim(kOp, "inv_freq", p.inv_freq, 0, hd / 2));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "q", p.q, "k", p.k));
  const int64_t nh = p.q.dim(1);
  const int64_t nkv = p.k.dim(1);
  const int32_t* positions = p.positions.as<int32_t>();
  const float* inv_freq = p.inv_freq.as<float>();
  float* q = p.q.as<float>();
  float* k = p.k.as<float>();
  ParallelRows(ctx, n, 8 * (nh + nkv) * hd, [&](int64_t begin, int64_t end) {
    std::vector<float> cos_sin(hd);
    float* cos_v = cos_sin.data();
    float* sin_v = cos_v + hd / 2;
    for (int64_t i = begin; i < end; ++i) {
      const float pos = static_cast<float>(positions[i]);
      for (int64_t j = 0; j < hd / 2; ++j) {
        const float angle = pos * inv_freq[j];
        cos_v[j] = std::cos(angle);
        sin_v[j] = std::sin(angle);
      }
      RotateHeads(q + i * nh * hd, nh, hd, cos_v, sin_v);
      RotateHeads(k + i * nkv * hd, nkv, hd, cos_v, sin_v);
    }
  });
  return absl::OkStatus();
}

}  // namespace infernum::kernels::cpu
