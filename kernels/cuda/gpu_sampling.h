// On-GPU sampling through the CUDA backend (CudaBackend::Sample). CUDA-free.
//
// One call samples one token for each row of a [rows, vocab] f32 logits
// tensor on the device, with the semantics of worker/sampling/sampler.h:
// penalties (repetition over the row's listed tokens, then frequency and
// presence over listed tokens with count > 0) -> temperature -> top-k
// (exactly k, ties by lowest id) -> top-p (smallest most-likely prefix with
// mass >= top_p - 1e-6) -> min-p -> one Philox draw; greedy rows take the
// argmax after penalties. Logprobs are log_softmax of the RAW logits.
// Only O(rows) bytes cross PCIe instead of rows * vocab * 4.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cuda/sampling_types.h"
#include "kernels/tensor.h"

namespace infernum::kernels {

using cuda::GpuSamplingRow;
using cuda::kMaxGpuTopLogprobs;

struct GpuSamplingInputs {
  Tensor logits;  // [rows, vocab] f32 on the device; not modified.
  // rows.size() == logits.dim(0). Row i's penalty list is
  // penalty_tokens/penalty_counts[rows[i].penalty_begin, penalty_end): every
  // token of the prompt or the output ONCE (duplicates race), with its count
  // in the output (0 for prompt-only tokens).
  std::span<const GpuSamplingRow> rows;
  std::span<const int32_t> penalty_tokens;
  std::span<const int32_t> penalty_counts;
};

struct GpuSamplingResult {
  std::vector<int32_t> tokens;  // [rows].
  // [rows] log_softmax(raw logits)[token]; NaN for rows with num_logprobs < 0.
  std::vector<float> logprobs;
  // [rows * kMaxGpuTopLogprobs]: row i's min(num_logprobs, 20) most likely
  // raw tokens, most likely first (ties: lowest id); -1 / -inf after them.
  std::vector<int32_t> top_tokens;
  std::vector<float> top_logprobs;
};

}  // namespace infernum::kernels
