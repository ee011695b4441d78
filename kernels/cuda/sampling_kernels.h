// Internal: launcher of the on-GPU sampler (one thread block per row).
#pragma once

#include "kernels/cuda/launch_common.h"
#include "kernels/cuda/sampling_types.h"

namespace infernum::kernels::cuda {

struct SamplingLaunch {
  const float* logits;            // [rows, vocab]; not modified.
  float* work;                    // [rows, vocab] for penalized logits; null
                                  // when no row has penalties.
  const GpuSamplingRow* params;   // [rows].
  const int32_t* penalty_tokens;  // Rows' slices; each id at most once per row.
  const int32_t*
      penalty_counts;  // Output count per listed id (0: prompt only).
  int64_t rows;
  int vocab;
  int32_t* tokens;  // [rows]; -1 for a row with bad logits.
  int32_t* status;  // [rows] GpuSampleStatus.
  float* logprobs;  // [rows] log_softmax(raw logits)[token]; NaN if not asked.
  int32_t* top_tokens;  // [rows, kMaxGpuTopLogprobs], -1 past the row's count.
  float* top_logprobs;  // [rows, kMaxGpuTopLogprobs], -inf past the count.
};
cudaError_t LaunchSampling(const SamplingLaunch& p, cudaStream_t stream);

}  // namespace infernum::kernels::cuda
