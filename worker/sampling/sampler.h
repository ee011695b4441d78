// Token sampler: one step of one sequence, on host f32 logits of size V.
//
// Per request: validate SamplingParams at admission, create one
// SequenceSamplerState, then each step call Sample() and Append() the token
// it returned. Processing order (vLLM-like): penalties (repetition, then
// frequency, then presence) -> temperature -> top-k -> top-p -> min-p ->
// one draw from the renormalized distribution. Greedy (temperature ~0 or
// top_k == 1) is the argmax after penalties, lowest id on ties.
//
// Randomness: the draw for output position n is a pure function of (key,
// stream, n) through Philox4x32-10, where key = params.seed (or an OS-entropy
// key when absent). Hence the same seed and the same logits give the same
// tokens regardless of batch composition, thread, or preemption: a state
// rebuilt from the prompt with the already-generated tokens re-Appended
// continues exactly where the original would have.
//
// Thread safety: Sample() only reads `state`; distinct threads may sample
// distinct sequences concurrently, each with its own SamplerScratch.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/sampling/logits_processor.h"
#include "worker/sampling/logprobs.h"
#include "worker/sampling/philox.h"
#include "worker/sampling/sampling_params.h"

namespace infernum::worker {

struct SampleResult {
  int32_t token = -1;
  // log_softmax of the RAW logits at `token` (see logprobs.h). Only computed
  // when params.num_logprobs >= 0; NaN otherwise.
  float logprob = 0.0f;
  // params.num_logprobs most likely raw tokens, most likely first (ties ->
  // lowest id). Empty when num_logprobs <= 0. May include `token`.
  std::vector<TokenLogprob> top_logprobs;
};

// Per-request sampler state: the RNG key and the token statistics that the
// penalties need. Tokens are kept sparsely (hash containers), so memory is
// O(distinct tokens), not O(V).
class SequenceSamplerState {
 public:
  // Only params.seed is read here (the key). `prompt_ids` feed the
  // repetition penalty. `stream` separates samplers
  // that share one seed (e.g. the n choices of one request: pass 0..n-1).
  SequenceSamplerState(const SamplingParams& params,
                       absl::Span<const int32_t> prompt_ids,
                       uint64_t stream = 0);

  // Records a generated token: call once per Sample(), with its token, and
  // again for each generated token when rebuilding the state (preemption).
  void Append(int32_t token);

  int64_t num_output_tokens() const { return num_output_tokens_; }
  // Uniform in [0, 1) for output position num_output_tokens(). Calling it
  // again without an Append() returns the same value.
  double NextUniform() const;

  // The Philox key and stream of this sequence's draws (NextUniform is
  // Philox4x32({n, n >> 32, stream, stream >> 32}, key) at n =
  // num_output_tokens()); for samplers that draw elsewhere (the GPU).
  const PhiloxKey& key() const { return key_; }
  uint64_t stream() const { return stream_; }

  const absl::flat_hash_set<int32_t>& seen_tokens() const { return seen_; }
  const absl::flat_hash_map<int32_t, int32_t>& output_counts() const {
    return output_counts_;
  }

 private:
  PhiloxKey key_;
  uint64_t stream_;
  int64_t num_output_tokens_ = 0;
  absl::flat_hash_set<int32_t> seen_;                    // prompt + output
  absl::flat_hash_map<int32_t, int32_t> output_counts_;  // output only
};

// Reusable buffers (O(V)); one per thread that samples, to avoid allocating
// a few MB per call at V ~ 256k. Contents are meaningless between calls.
struct SamplerScratch {
  std::vector<float> logits;
  std::vector<sampling_internal::Candidate> candidates;
  std::vector<float> weights;
};

// Samples the next token for `state`'s sequence. `logits` is not modified
// (penalties apply to a scratch copy); `state` is not modified either (call
// state.Append(result.token) afterwards). InvalidArgument for invalid params
// or bad logits (empty, NaN, +inf, all -inf). `scratch` may be null.
absl::StatusOr<SampleResult> Sample(absl::Span<const float> logits,
                                    const SamplingParams& params,
                                    const SequenceSamplerState& state,
                                    SamplerScratch* scratch = nullptr);

// The distribution Sample() draws from, dense over V (sums to 1): after
// penalties, temperature, top-k, top-p and min-p; one-hot at the argmax for
// greedy params. For tests and debugging. Same errors as Sample().
absl::StatusOr<std::vector<double>> ProcessedProbabilities(
    absl::Span<const float> logits, const SamplingParams& params,
    const SequenceSamplerState& state);

}  // namespace infernum::worker
