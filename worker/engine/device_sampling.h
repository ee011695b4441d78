// The bridge between the runner's per-sequence sampler state
// (worker/sampling) and the CUDA backend's on-device sampler
// (kernels/cuda/gpu_sampling.h): one GpuSamplingRow per sampled sequence,
// and the device's results back as SampleResults.
//
// The rows carry the sequence's own Philox key, stream and output position,
// so a device draw uses the same uniform as the host sampler would
// (SequenceSamplerState::NextUniform), and the penalty lists carry exactly
// the tokens the host sampler penalizes (seen = prompt + output, with output
// counts).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/gpu_sampling.h"
#include "worker/sampling/sampler.h"
#include "worker/sampling/sampling_params.h"

namespace infernum::worker {

// Inputs of one CudaBackend::Sample call, built row by row.
struct DeviceSamplingBatch {
  std::vector<kernels::GpuSamplingRow> rows;
  std::vector<int32_t> penalty_tokens;
  std::vector<int32_t> penalty_counts;

  void Clear();
  // Appends the row of a sequence sampled with `params` (valid) from
  // `state`; its penalty list holds every seen token once when a penalty is
  // enabled, none otherwise.
  void AddRow(const SamplingParams& params, const SequenceSamplerState& state);
  // Appends a greedy row without logprobs whose result will be ignored (a
  // sequence that failed before sampling).
  void AddPlaceholderRow();
};

// Row `row` of `result` as the host sampler reports it: the token, its
// logprob (NaN when num_logprobs < 0) and min(num_logprobs, 20) alternatives.
SampleResult ToSampleResult(const kernels::GpuSamplingResult& result, int row,
                            int num_logprobs);

}  // namespace infernum::worker
