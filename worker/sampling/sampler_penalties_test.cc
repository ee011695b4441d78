// Sampler tests: penalties, seeding / determinism, and input errors.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "worker/sampling/sampler.h"
#include "worker/sampling/sampler_test_util.h"

namespace infernum::worker {
namespace {

using testing::DrawIndependent;
using testing::ExpectFrequenciesMatch;
using testing::RandomLogits;
using testing::RefProcessed;

std::vector<double> ProcessedWith(const std::vector<float>& logits,
                                  const SamplingParams& params,
                                  const std::vector<int32_t>& prompt,
                                  const std::vector<int32_t>& outputs) {
  SequenceSamplerState state(params, prompt);
  for (int32_t t : outputs) state.Append(t);
  absl::StatusOr<std::vector<double>> p =
      ProcessedProbabilities(logits, params, state);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<double>();
}

void ExpectProbsNear(const std::vector<double>& got,
                     const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-6) << "token " << i;
  }
}

struct PenaltyCase {
  float repetition, presence, frequency;
};

TEST(SamplerPenaltyTest, ProcessedMatchesReference) {
  // Logits of both signs; prompt and output overlap partly; token 7 appears
  // three times in the output; ids outside the vocab are ignored.
  const std::vector<float> logits = RandomLogits(20, 91, 2.0f);
  const std::vector<int32_t> prompt = {1, 2, 3, 7, 2, 500, -4};
  const std::vector<int32_t> outputs = {7, 9, 7, 12, 7, 3, 19};
  for (const PenaltyCase& c :
       {PenaltyCase{1.3f, 0.0f, 0.0f}, PenaltyCase{0.7f, 0.0f, 0.0f},
        PenaltyCase{1.0f, 0.8f, 0.0f}, PenaltyCase{1.0f, 0.0f, 0.6f},
        PenaltyCase{1.0f, -1.5f, -0.4f}, PenaltyCase{1.8f, 1.2f, 0.5f}}) {
    SamplingParams p;
    p.seed = 1;
    p.repetition_penalty = c.repetition;
    p.presence_penalty = c.presence;
    p.frequency_penalty = c.frequency;
    SCOPED_TRACE(::testing::Message()
                 << c.repetition << " " << c.presence << " " << c.frequency);
    ExpectProbsNear(ProcessedWith(logits, p, prompt, outputs),
                    RefProcessed(logits, p, prompt, outputs));
    // Presence / frequency ignore the prompt: prompt-only tokens (1, 2) keep
    // their ratio to an unseen token (0) unless repetition applies.
    if (c.repetition == 1.0f) {
      const std::vector<double> got = ProcessedWith(logits, p, prompt, outputs);
      const double want_ratio = std::exp(double{logits[1]} - logits[0]);
      EXPECT_NEAR(got[1] / got[0], want_ratio, 1e-5 * want_ratio);
    }
  }
}

TEST(SamplerPenaltyTest, FrequenciesMatchReference) {
  const std::vector<float> logits = RandomLogits(15, 92, 1.5f);
  const std::vector<int32_t> prompt = {0, 1, 2};
  const std::vector<int32_t> outputs = {3, 3, 4, 0};
  SamplingParams p;
  p.seed = 77;
  p.temperature = 0.9f;
  p.repetition_penalty = 1.4f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.3f;
  ExpectFrequenciesMatch(DrawIndependent(logits, p, prompt, outputs, 20000),
                         RefProcessed(logits, p, prompt, outputs));
}

TEST(SamplerPenaltyTest, GreedyTakesArgmaxAfterPenalties) {
  const std::vector<float> logits = RandomLogits(50, 93);
  const int32_t raw_best = static_cast<int32_t>(
      std::max_element(logits.begin(), logits.end()) - logits.begin());
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 100.0f;  // the raw winner becomes unattractive
  const std::vector<double> want = RefProcessed(logits, p, {raw_best}, {});
  const int32_t want_id = static_cast<int32_t>(
      std::max_element(want.begin(), want.end()) - want.begin());
  ASSERT_NE(want_id, raw_best);
  SequenceSamplerState state(p, {raw_best});
  absl::StatusOr<SampleResult> r = Sample(logits, p, state);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->token, want_id);
}

// Runs `steps` steps with per-step logits from a fixed test RNG and all
// penalties on; returns the tokens.
std::vector<int32_t> RunSteps(const SamplingParams& params, int steps,
                              SequenceSamplerState& state) {
  std::vector<int32_t> tokens;
  SamplerScratch scratch;
  for (int i = 0; i < steps; ++i) {
    const std::vector<float> logits = RandomLogits(64, 1000 + i, 1.0f);
    absl::StatusOr<SampleResult> r = Sample(logits, params, state, &scratch);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    tokens.push_back(r->token);
    state.Append(r->token);
  }
  return tokens;
}

SamplingParams Penalized(std::optional<uint64_t> seed) {
  SamplingParams p;
  p.seed = seed;
  p.top_p = 0.95f;
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.2f;
  return p;
}

TEST(SamplerSeedTest, SameSeedSameTokensOver1000Steps) {
  const SamplingParams p = Penalized(1234);
  SequenceSamplerState a(p, {5, 6}), b(p, {5, 6});
  const std::vector<int32_t> ta = RunSteps(p, 1000, a);
  EXPECT_EQ(ta, RunSteps(p, 1000, b));
  // The other seed and other streams give different sequences.
  SequenceSamplerState c(Penalized(1235), {5, 6});
  EXPECT_NE(ta, RunSteps(Penalized(1235), 1000, c));
  SequenceSamplerState d(p, {5, 6}, /*stream=*/1);
  EXPECT_NE(ta, RunSteps(p, 1000, d));
}

TEST(SamplerSeedTest, NoSeedRunsDiffer) {
  const SamplingParams p = Penalized(std::nullopt);
  SequenceSamplerState a(p, {}), b(p, {});
  EXPECT_NE(RunSteps(p, 1000, a), RunSteps(p, 1000, b));
}

TEST(SamplerSeedTest, RebuiltStateContinuesIdentically) {
  // Preemption: a fresh state fed the prompt and the first 300 tokens must
  // produce the same remaining tokens as the uninterrupted run.
  const SamplingParams p = Penalized(99);
  SequenceSamplerState full(p, {1, 2, 3});
  const std::vector<int32_t> all = RunSteps(p, 500, full);
  SequenceSamplerState rebuilt(p, {1, 2, 3});
  for (int i = 0; i < 300; ++i) rebuilt.Append(all[i]);
  std::vector<int32_t> rest;
  SamplerScratch scratch;
  for (int i = 300; i < 500; ++i) {
    const std::vector<float> logits = RandomLogits(64, 1000 + i, 1.0f);
    absl::StatusOr<SampleResult> r = Sample(logits, p, rebuilt, &scratch);
    ASSERT_TRUE(r.ok());
    rest.push_back(r->token);
    rebuilt.Append(r->token);
  }
  EXPECT_EQ(rest, std::vector<int32_t>(all.begin() + 300, all.end()));
}

TEST(SamplerErrorTest, BadLogitsAndParamsAreInvalidArgument) {
  const float kInf = std::numeric_limits<float>::infinity();
  SamplingParams p;
  p.seed = 1;
  SequenceSamplerState state(p, {});
  for (const std::vector<float>& bad :
       {std::vector<float>{}, std::vector<float>{0.0f, NAN},
        std::vector<float>{kInf, 0.0f}, std::vector<float>{-kInf, -kInf}}) {
    EXPECT_EQ(Sample(bad, p, state).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  SamplingParams bad_params = p;
  bad_params.top_p = 0.0f;
  EXPECT_EQ(Sample({1.0f}, bad_params, state).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SamplerErrorTest, MaskedTokensAreNeverSampled) {
  const float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> logits = RandomLogits(10, 94, 0.5f);
  for (int i = 0; i < 10; i += 2) logits[i] = -kInf;
  SamplingParams p;
  p.seed = 3;
  p.repetition_penalty = 2.0f;
  const std::vector<int> counts = DrawIndependent(logits, p, {0, 2}, {}, 2000);
  for (int i = 0; i < 10; i += 2) {
    EXPECT_EQ(counts[i], 0);
  }
}

}  // namespace
}  // namespace infernum::worker
