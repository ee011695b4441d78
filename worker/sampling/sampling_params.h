// Per-request sampling parameters (OpenAI / vLLM semantics).
//
// A request's SamplingParams are validated once, when the request is admitted
// (Validate() returns InvalidArgument naming the field and its allowed range),
// and then stay constant for the request's lifetime. Sample() assumes valid
// params.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/status.h"

namespace infernum::worker {

// Temperatures below this are treated as greedy (as vLLM does), which also
// keeps logits / T finite.
inline constexpr float kGreedyTemperature = 1e-5f;
// OpenAI's maximum for `top_logprobs`.
inline constexpr int kMaxNumLogprobs = 20;

struct SamplingParams {
  // 0 (or < kGreedyTemperature) => greedy: argmax after penalties, lowest id
  // on ties; the RNG is not used. Must be finite and >= 0.
  float temperature = 1.0f;
  // Keep only the k most likely tokens (exactly k: ties at the boundary are
  // broken by lowest id). 0 or -1 => disabled; 1 => greedy.
  int top_k = 0;
  // Nucleus: keep the smallest most-likely prefix whose mass >= top_p.
  // In (0, 1]; 1 => disabled.
  float top_p = 1.0f;
  // Drop tokens with p < min_p * p_max. In [0, 1]; 0 => disabled.
  float min_p = 0.0f;
  // HF / vLLM: for every token seen in the prompt OR the output,
  // logit > 0 ? logit / r : logit * r. Must be > 0; 1 => disabled.
  float repetition_penalty = 1.0f;
  // OpenAI: logit -= presence_penalty * (count > 0), over OUTPUT tokens.
  // In [-2, 2].
  float presence_penalty = 0.0f;
  // OpenAI: logit -= frequency_penalty * count, over OUTPUT tokens.
  // In [-2, 2].
  float frequency_penalty = 0.0f;
  // Same seed + same logits sequence => same tokens. Absent => the request's
  // sampler state draws a key from a non-deterministic source.
  std::optional<uint64_t> seed;
  // -1 => no logprobs. k in [0, kMaxNumLogprobs] => the chosen token's
  // logprob plus the k most likely alternatives.
  int num_logprobs = -1;

  // OK, or InvalidArgument naming the first offending field, its allowed
  // range and the value received. NaN / inf are rejected for every float.
  absl::Status Validate() const;

  // True when Sample() takes the argmax (temperature ~0 or top_k == 1).
  bool IsGreedy() const;
  // True when any of the three penalties changes logits.
  bool HasPenalties() const;
};

}  // namespace infernum::worker
