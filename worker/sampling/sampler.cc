#include "worker/sampling/sampler.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "common/status.h"

namespace infernum::worker {
namespace {

using sampling_internal::Candidate;

// A key from the OS entropy source; falls back to clock and address bits if
// std::random_device is unavailable (it reports that by throwing).
PhiloxKey NonDeterministicKey(const void* salt) {
  try {
    std::random_device device;
    return {device(), device()};
  } catch (...) {
    const uint64_t t = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    const uint64_t a = reinterpret_cast<uintptr_t>(salt);
    return {static_cast<uint32_t>(t ^ a), static_cast<uint32_t>((t >> 32) ^ a)};
  }
}

// Result of Process(): the argmax for greedy params; otherwise the filtered
// candidates were left in scratch.candidates.
struct Processed {
  bool greedy;
  int32_t argmax;
};

absl::StatusOr<Processed> Process(absl::Span<const float> logits,
                                  const SamplingParams& params,
                                  const SequenceSamplerState& state,
                                  SamplerScratch& scratch) {
  RETURN_IF_ERROR(params.Validate());
  RETURN_IF_ERROR(sampling_internal::CheckLogits(logits));
  absl::Span<const float> work = logits;
  if (params.HasPenalties()) {
    scratch.logits.assign(logits.begin(), logits.end());
    sampling_internal::ApplyPenalties(params, state.seen_tokens(),
                                      state.output_counts(), scratch.logits);
    work = scratch.logits;
  }
  if (params.IsGreedy()) {
    return Processed{true, sampling_internal::ArgMax(work)};
  }
  sampling_internal::FilterCandidates(work, params, &scratch.candidates);
  return Processed{false, -1};
}

// Fills `weights` with exp(logit) (<= 1; the most likely is 1) and returns
// their sum, accumulated in double.
double ComputeWeights(const std::vector<Candidate>& candidates,
                      std::vector<float>& weights) {
  weights.resize(candidates.size());
  double total = 0.0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    weights[i] = std::exp(candidates[i].logit);
    total += weights[i];
  }
  return total;
}

// Inverse-CDF draw: the first candidate whose cumulative weight exceeds
// uniform * total.
int32_t Draw(const std::vector<Candidate>& candidates,
             std::vector<float>& weights, double uniform) {
  const double target = uniform * ComputeWeights(candidates, weights);
  double cumulative = 0.0;
  int32_t last_positive = candidates.front().id;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (weights[i] <= 0.0f) continue;
    cumulative += weights[i];
    last_positive = candidates[i].id;
    if (target < cumulative) return last_positive;
  }
  return last_positive;  // rounding pushed target past the last step
}

}  // namespace

SequenceSamplerState::SequenceSamplerState(const SamplingParams& params,
                                           absl::Span<const int32_t> prompt_ids,
                                           uint64_t stream)
    : stream_(stream) {
  if (params.seed.has_value()) {
    const uint64_t seed = *params.seed;
    key_ = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  } else {
    key_ = NonDeterministicKey(this);
  }
  seen_.insert(prompt_ids.begin(), prompt_ids.end());
}

void SequenceSamplerState::Append(int32_t token) {
  seen_.insert(token);
  ++output_counts_[token];
  ++num_output_tokens_;
}

double SequenceSamplerState::NextUniform() const {
  const uint64_t n = static_cast<uint64_t>(num_output_tokens_);
  const PhiloxCounter out = Philox4x32(
      {static_cast<uint32_t>(n), static_cast<uint32_t>(n >> 32),
       static_cast<uint32_t>(stream_), static_cast<uint32_t>(stream_ >> 32)},
      key_);
  return UniformFromWords(out[0], out[1]);
}

absl::StatusOr<SampleResult> Sample(absl::Span<const float> logits,
                                    const SamplingParams& params,
                                    const SequenceSamplerState& state,
                                    SamplerScratch* scratch) {
  SamplerScratch local;
  SamplerScratch& s = scratch != nullptr ? *scratch : local;
  ASSIGN_OR_RETURN(const Processed p, Process(logits, params, state, s));
  SampleResult result;
  result.token =
      p.greedy ? p.argmax : Draw(s.candidates, s.weights, state.NextUniform());
  if (params.num_logprobs < 0) {
    result.logprob = std::numeric_limits<float>::quiet_NaN();
    return result;
  }
  RawLogprobs lp =
      ComputeRawLogprobs(logits, result.token, params.num_logprobs);
  result.logprob = lp.chosen;
  result.top_logprobs = std::move(lp.top);
  return result;
}

absl::StatusOr<std::vector<double>> ProcessedProbabilities(
    absl::Span<const float> logits, const SamplingParams& params,
    const SequenceSamplerState& state) {
  SamplerScratch s;
  ASSIGN_OR_RETURN(const Processed p, Process(logits, params, state, s));
  std::vector<double> probs(logits.size(), 0.0);
  if (p.greedy) {
    probs[p.argmax] = 1.0;
    return probs;
  }
  const double total = ComputeWeights(s.candidates, s.weights);
  for (size_t i = 0; i < s.candidates.size(); ++i) {
    probs[s.candidates[i].id] = s.weights[i] / total;
  }
  return probs;
}

}  // namespace infernum::worker
