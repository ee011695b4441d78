// Internal steps of Sample(): logit checks, penalties, and the
// temperature -> top-k -> top-p -> min-p candidate filter. Exposed for the
// sampler and its tests; callers outside worker/sampling use sampler.h.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "worker/sampling/sampling_params.h"

namespace infernum::worker::sampling_internal {

// Top-p keeps the smallest prefix whose mass >= top_p - kTopPTolerance, so a
// prefix whose exact mass equals top_p is not lost to f32 rounding.
inline constexpr double kTopPTolerance = 1e-6;

// A token that survived filtering. `logit` is the penalized logit, minus the
// maximum, divided by the temperature: <= 0, and 0 for the most likely token,
// so exp(logit) = p / p_max.
struct Candidate {
  float logit;
  int32_t id;
};

// OK when `logits` is non-empty, has no NaN / +inf, and at least one finite
// entry (-inf marks a disallowed token). Otherwise InvalidArgument.
absl::Status CheckLogits(absl::Span<const float> logits);

// Applies, in place and in this order, the repetition penalty to every token
// in `seen` (prompt and output) and the frequency and presence penalties to
// every token in `output_counts`. Ids outside [0, logits.size()) are ignored.
// -inf logits stay -inf; finite results are clamped to the finite range.
void ApplyPenalties(const SamplingParams& params,
                    const absl::flat_hash_set<int32_t>& seen,
                    const absl::flat_hash_map<int32_t, int32_t>& output_counts,
                    std::vector<float>& logits);

// Index of the largest entry, lowest index on ties. `logits` passed
// CheckLogits.
int32_t ArgMax(absl::Span<const float> logits);

// Replaces `*out` with the tokens that survive, for a non-greedy `params`:
// temperature scaling, then top-k (exactly k tokens, ties -> lowest id), then
// top-p (on the renormalized top-k distribution), then min-p. -inf logits are
// dropped. `logits` (already penalized) passed CheckLogits. The result is
// non-empty, in no particular order, but deterministic (a function of the
// inputs only). Cost O(V) plus a sort of one top-p bucket; no full sort.
void FilterCandidates(absl::Span<const float> logits,
                      const SamplingParams& params,
                      std::vector<Candidate>* out);

}  // namespace infernum::worker::sampling_internal
