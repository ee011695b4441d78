// Plain-data types of on-GPU sampling, shared by the CUDA-free public API
// (gpu_sampling.h) and the kernels. No CUDA and no project dependencies.
#pragma once

#include <cstdint>

namespace infernum::kernels::cuda {

// Most alternatives GPU sampling reports per row (OpenAI's top_logprobs max).
inline constexpr int kMaxGpuTopLogprobs = 20;

// One row's sampling parameters, with worker/sampling/sampling_params.h
// semantics (validated by the caller; out-of-range values are clamped to
// "disabled"). Order: penalties (repetition over every listed token, then
// frequency and presence over tokens with count > 0) -> temperature ->
// top-k -> top-p -> min-p -> one draw. Greedy (argmax after penalties,
// lowest id on ties) when temperature < 1e-5 or top_k == 1.
struct GpuSamplingRow {
  float temperature = 1.0f;
  int32_t top_k = 0;   // <= 0: disabled.
  float top_p = 1.0f;  // >= 1: disabled.
  float min_p = 0.0f;  // <= 0: disabled.
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Philox4x32-10 key and counter of this draw, as worker/sampling does it:
  // key = {seed & 0xffffffff, seed >> 32}; counter = {n & 0xffffffff,
  // n >> 32, stream & 0xffffffff, stream >> 32} with n the output position.
  // The uniform is ((out[0] << 32 | out[1]) >> 11) * 2^-53, exactly the CPU
  // sampler's; the token drawn from it may still differ from the CPU's on
  // rounding edges (different summation order).
  uint32_t key[2] = {0, 0};
  uint32_t counter[4] = {0, 0, 0, 0};
  // Alternatives to report: < 0 none (logprob not computed), 0..20.
  int32_t num_logprobs = -1;
  // This row's slice [penalty_begin, penalty_end) of the penalty arrays.
  int32_t penalty_begin = 0;
  int32_t penalty_end = 0;
};

// Per-row results written by the kernel.
enum GpuSampleStatus : int32_t {
  kGpuSampleOk = 0,
  kGpuSampleBadLogits = 1,  // NaN or +inf present.
  kGpuSampleAllMasked = 2,  // Every logit is -inf.
};

}  // namespace infernum::kernels::cuda
