#include "worker/engine/device_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infernum::worker {

void DeviceSamplingBatch::Clear() {
  rows.clear();
  penalty_tokens.clear();
  penalty_counts.clear();
}

void DeviceSamplingBatch::AddRow(const SamplingParams& params,
                                 const SequenceSamplerState& state) {
  kernels::GpuSamplingRow r;
  r.temperature = params.temperature;
  r.top_k = params.top_k;
  r.top_p = params.top_p;
  r.min_p = params.min_p;
  r.repetition_penalty = params.repetition_penalty;
  r.presence_penalty = params.presence_penalty;
  r.frequency_penalty = params.frequency_penalty;
  r.key[0] = state.key()[0];
  r.key[1] = state.key()[1];
  const uint64_t n = static_cast<uint64_t>(state.num_output_tokens());
  const uint64_t stream = state.stream();
  r.counter[0] = static_cast<uint32_t>(n);
  r.counter[1] = static_cast<uint32_t>(n >> 32);
  r.counter[2] = static_cast<uint32_t>(stream);
  r.counter[3] = static_cast<uint32_t>(stream >> 32);
  r.num_logprobs = params.num_logprobs;
  r.penalty_begin = static_cast<int32_t>(penalty_tokens.size());
  if (params.HasPenalties()) {
    for (int32_t token : state.seen_tokens()) {
      const auto it = state.output_counts().find(token);
      penalty_tokens.push_back(token);
      penalty_counts.push_back(it == state.output_counts().end() ? 0
                                                                 : it->second);
    }
  }
  r.penalty_end = static_cast<int32_t>(penalty_tokens.size());
  rows.push_back(r);
}

void DeviceSamplingBatch::AddPlaceholderRow() {
  kernels::GpuSamplingRow r;
  r.temperature = 0.0f;
  r.penalty_begin = r.penalty_end = static_cast<int32_t>(penalty_tokens.size());
  rows.push_back(r);
}

SampleResult ToSampleResult(const kernels::GpuSamplingResult& result, int row,
                            int num_logprobs) {
  SampleResult out;
  out.token = result.tokens[row];
  out.logprob = num_logprobs < 0 ? std::numeric_limits<float>::quiet_NaN()
                                 : result.logprobs[row];
  const int k = std::min(num_logprobs, kernels::kMaxGpuTopLogprobs);
  const size_t base = static_cast<size_t>(row) * kernels::kMaxGpuTopLogprobs;
  for (int j = 0; j < k; ++j) {
    const int32_t token = result.top_tokens[base + j];
    if (token < 0) break;
    out.top_logprobs.push_back({token, result.top_logprobs[base + j]});
  }
  return out;
}

}  // namespace infernum::worker
