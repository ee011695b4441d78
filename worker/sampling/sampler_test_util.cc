#include "worker/sampling/sampler_test_util.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "gtest/gtest.h"

namespace infernum::worker::testing {
namespace {

constexpr double kZ = 3.719;  // standard normal quantile, upper tail 1e-4

double ChiSquareCritical(int df) {
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + kZ * std::sqrt(a), 3.0);
}

struct ChiSquare {
  double statistic = 0.0;
  int df = 0;
  bool impossible_drawn = false;
};

ChiSquare ComputeChiSquare(const std::vector<int>& counts,
                           const std::vector<double>& probs) {
  const double n = std::accumulate(counts.begin(), counts.end(), 0.0);
  ChiSquare out;
  double pooled_obs = 0.0, pooled_exp = 0.0;
  int num_bins = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double expected = probs[i] * n;
    if (probs[i] == 0.0) {
      out.impossible_drawn = out.impossible_drawn || counts[i] > 0;
      continue;
    }
    if (expected < 5.0) {
      pooled_obs += counts[i];
      pooled_exp += expected;
      continue;
    }
    out.statistic += std::pow(counts[i] - expected, 2) / expected;
    ++num_bins;
  }
  if (pooled_exp > 0.0) {
    out.statistic += std::pow(pooled_obs - pooled_exp, 2) / pooled_exp;
    ++num_bins;
  }
  out.df = std::max(1, num_bins - 1);
  return out;
}

// Renormalizes `p` over the ids in `keep`, zeroing the rest.
void KeepOnly(const std::vector<bool>& keep, std::vector<double>& p) {
  double total = 0.0;
  for (size_t i = 0; i < p.size(); ++i) total += keep[i] ? p[i] : 0.0;
  for (size_t i = 0; i < p.size(); ++i) p[i] = keep[i] ? p[i] / total : 0.0;
}

std::vector<double> ApplyPenaltiesRef(const std::vector<float>& logits,
                                      const SamplingParams& params,
                                      const std::vector<int32_t>& prompt,
                                      const std::vector<int32_t>& outputs) {
  std::vector<double> l(logits.begin(), logits.end());
  std::set<int32_t> seen(prompt.begin(), prompt.end());
  seen.insert(outputs.begin(), outputs.end());
  std::map<int32_t, int> counts;
  for (int32_t t : outputs) ++counts[t];
  const double r = params.repetition_penalty;
  for (int32_t t : seen) {
    if (t < 0 || t >= static_cast<int32_t>(l.size())) continue;
    l[t] = l[t] > 0 ? l[t] / r : l[t] * r;
  }
  for (const auto& [t, c] : counts) {
    if (t < 0 || t >= static_cast<int32_t>(l.size())) continue;
    l[t] -= params.frequency_penalty * c + params.presence_penalty;
  }
  return l;
}

}  // namespace

std::vector<double> RefSoftmax(const std::vector<float>& logits,
                               double temperature) {
  double max_l = -INFINITY;
  for (float v : logits) max_l = std::max<double>(max_l, v);
  std::vector<double> p(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] = std::exp((logits[i] - max_l) / temperature);
    total += p[i];
  }
  for (double& x : p) x /= total;
  return p;
}

std::vector<double> RefProcessed(const std::vector<float>& logits,
                                 const SamplingParams& params,
                                 const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& outputs) {
  const std::vector<double> l =
      ApplyPenaltiesRef(logits, params, prompt, outputs);
  const size_t v = l.size();
  std::vector<int32_t> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  std::vector<double> p(v, 0.0);
  if (params.temperature < kGreedyTemperature || params.top_k == 1) {
    p[order[0]] = 1.0;
    return p;
  }
  const double max_l = l[order[0]];
  for (size_t i = 0; i < v; ++i) {
    p[i] = std::exp((l[i] - max_l) / params.temperature);
  }
  std::vector<bool> keep(v, true);
  if (params.top_k > 0) {
    for (size_t r = params.top_k; r < v; ++r) keep[order[r]] = false;
  }
  KeepOnly(keep, p);
  if (params.top_p < 1.0f) {
    double cumulative = 0.0;
    bool reached = false;
    for (int32_t id : order) {
      if (reached) keep[id] = false;
      cumulative += p[id];
      reached = reached || cumulative >= params.top_p - 1e-6;
    }
    KeepOnly(keep, p);
  }
  if (params.min_p > 0.0f) {
    const double p_max = p[order[0]];
    for (size_t i = 0; i < v; ++i) {
      if (p[i] < params.min_p * p_max) keep[i] = false;
    }
    KeepOnly(keep, p);
  }
  return p;
}

std::vector<int> DrawSequential(const std::vector<float>& logits,
                                const SamplingParams& params, int num_draws) {
  std::vector<int> counts(logits.size(), 0);
  SequenceSamplerState state(params, {});
  SamplerScratch scratch;
  for (int i = 0; i < num_draws; ++i) {
    absl::StatusOr<SampleResult> r = Sample(logits, params, state, &scratch);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    ++counts[r->token];
    state.Append(r->token);
  }
  return counts;
}

std::vector<int> DrawIndependent(const std::vector<float>& logits,
                                 const SamplingParams& params,
                                 const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& outputs,
                                 int num_draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < num_draws; ++i) {
    SequenceSamplerState state(params, prompt, /*stream=*/i);
    for (int32_t t : outputs) state.Append(t);
    absl::StatusOr<SampleResult> r = Sample(logits, params, state);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    ++counts[r->token];
  }
  return counts;
}

double ExpectFrequenciesMatch(const std::vector<int>& counts,
                              const std::vector<double>& probs) {
  const ChiSquare cs = ComputeChiSquare(counts, probs);
  EXPECT_FALSE(cs.impossible_drawn) << "a zero-probability token was drawn";
  EXPECT_LE(cs.statistic, ChiSquareCritical(cs.df))
      << "chi-square " << cs.statistic << " with df " << cs.df;
  return cs.statistic;
}

bool ChiSquareRejects(const std::vector<int>& counts,
                      const std::vector<double>& probs) {
  const ChiSquare cs = ComputeChiSquare(counts, probs);
  return cs.impossible_drawn || cs.statistic > ChiSquareCritical(cs.df);
}

std::vector<float> RandomLogits(int vocab, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> logits(vocab);
  for (float& x : logits) x = dist(rng);
  return logits;
}

}  // namespace infernum::worker::testing
