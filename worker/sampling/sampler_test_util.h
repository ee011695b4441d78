// Test-only helpers for the sampler tests: an independent reference of the
// sampling pipeline (double precision, full sorts, no shared code with the
// sampler) and a chi-square goodness-of-fit check.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/sampling/sampler.h"
#include "worker/sampling/sampling_params.h"

namespace infernum::worker::testing {

// softmax(logits / temperature) in double.
std::vector<double> RefSoftmax(const std::vector<float>& logits,
                               double temperature = 1.0);

// The distribution the sampler should draw from, computed from the
// definitions: penalties over `prompt` / `outputs`, temperature, top-k (ties
// -> lowest id), top-p (smallest prefix with mass >= top_p - 1e-6), min-p,
// each followed by renormalization. Greedy => one-hot argmax (lowest id).
std::vector<double> RefProcessed(const std::vector<float>& logits,
                                 const SamplingParams& params,
                                 const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& outputs);

// Token counts over `num_draws` consecutive steps of ONE state (no prompt;
// each token is Appended). Only meaningful without penalties.
std::vector<int> DrawSequential(const std::vector<float>& logits,
                                const SamplingParams& params, int num_draws);

// Token counts over `num_draws` independent states (stream i), each built
// from `prompt` with `outputs` Appended.
std::vector<int> DrawIndependent(const std::vector<float>& logits,
                                 const SamplingParams& params,
                                 const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& outputs,
                                 int num_draws);

// Pearson chi-square of `counts` against `probs` (bins with expected < 5
// pooled). Reports a gtest failure when a zero-probability token was drawn or
// the statistic exceeds the 1e-4 upper-tail critical value (Wilson-Hilferty).
// Returns the statistic.
double ExpectFrequenciesMatch(const std::vector<int>& counts,
                              const std::vector<double>& probs);

// True when chi-square rejects `counts` against `probs` at the same level
// (used to show that the check has power).
bool ChiSquareRejects(const std::vector<int>& counts,
                      const std::vector<double>& probs);

// Deterministic pseudo-random logits in [-scale, scale] (test RNG, fixed
// seed), so fixtures are generated rather than hand-written.
std::vector<float> RandomLogits(int vocab, uint32_t seed, float scale = 3.0f);

}  // namespace infernum::worker::testing
