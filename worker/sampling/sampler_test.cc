// Sampler tests: exact checks of ProcessedProbabilities and logprobs against
// an independent double-precision reference (sampler_test_util), and
// chi-square checks of empirical token frequencies (fixed seeds, so the tests
// are deterministic; a correct sampler fails each with probability ~1e-4).
#include "worker/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "worker/sampling/sampler_test_util.h"

namespace infernum::worker {
namespace {

using testing::DrawIndependent;
using testing::DrawSequential;
using testing::ExpectFrequenciesMatch;
using testing::RandomLogits;
using testing::RefProcessed;
using testing::RefSoftmax;

constexpr int kNumDraws = 20000;

SamplingParams Seeded(uint64_t seed) {
  SamplingParams p;
  p.seed = seed;
  return p;
}

void ExpectProbsNear(const std::vector<double>& got,
                     const std::vector<double>& want, double tol = 1e-6) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
    // Same support, except where f32 exp underflows (p < ~1e-38).
    if (want[i] == 0.0) {
      EXPECT_EQ(got[i], 0.0) << "kept filtered token " << i;
    }
    if (want[i] > 1e-30) {
      EXPECT_GT(got[i], 0.0) << "dropped token " << i;
    }
  }
}

std::vector<double> Processed(const std::vector<float>& logits,
                              const SamplingParams& params) {
  SequenceSamplerState state(params, {});
  absl::StatusOr<std::vector<double>> p =
      ProcessedProbabilities(logits, params, state);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<double>();
}

int32_t SampleOnce(const std::vector<float>& logits,
                   const SamplingParams& params) {
  SequenceSamplerState state(params, {});
  absl::StatusOr<SampleResult> r = Sample(logits, params, state);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->token : -1;
}

TEST(SamplerGreedyTest, PicksArgmaxLowestIdOnTies) {
  for (uint32_t trial = 0; trial < 20; ++trial) {
    std::vector<float> logits = RandomLogits(100, trial);
    // Duplicate the maximum onto a later id: the earlier one must win.
    const auto max_it = std::max_element(logits.begin(), logits.end());
    const int32_t first = static_cast<int32_t>(max_it - logits.begin());
    logits[first < 99 ? 99 : 0] = *max_it;
    const int32_t want = static_cast<int32_t>(
        std::max_element(logits.begin(), logits.end()) - logits.begin());
    SamplingParams p = Seeded(trial);
    p.temperature = 0.0f;
    EXPECT_EQ(SampleOnce(logits, p), want);
    p.temperature = 1.0f;
    p.top_k = 1;
    EXPECT_EQ(SampleOnce(logits, p), want);
  }
}

TEST(SamplerGreedyTest, TemperatureZeroIgnoresTheRng) {
  const std::vector<float> logits = RandomLogits(50, 7, 0.1f);  // flat-ish
  SamplingParams unseeded;
  unseeded.temperature = 0.0f;
  const int32_t want = SampleOnce(logits, unseeded);
  for (uint64_t seed = 0; seed < 100; ++seed) {
    SamplingParams p = Seeded(seed);
    p.temperature = 0.0f;
    EXPECT_EQ(SampleOnce(logits, p), want);
    EXPECT_EQ(SampleOnce(logits, unseeded), want);
  }
}

TEST(SamplerTemperatureTest, ProcessedMatchesSoftmaxOverT) {
  const std::vector<float> logits = RandomLogits(300, 11);
  for (float t : {0.05f, 0.3f, 1.0f, 1.7f, 5.0f}) {
    SamplingParams p = Seeded(1);
    p.temperature = t;
    ExpectProbsNear(Processed(logits, p), RefSoftmax(logits, t));
  }
}

TEST(SamplerTemperatureTest, FrequenciesMatchSoftmaxOverT) {
  const std::vector<float> logits = RandomLogits(12, 3, 2.0f);
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplingParams p = Seeded(100 + static_cast<int>(t * 10));
    p.temperature = t;
    ExpectFrequenciesMatch(DrawSequential(logits, p, kNumDraws),
                           RefSoftmax(logits, t));
  }
}

TEST(SamplerTemperatureTest, ChiSquareCheckHasPower) {
  // Draws at T=1 must be rejected against the T=0.7 distribution.
  const std::vector<float> logits = RandomLogits(12, 3, 2.0f);
  const std::vector<int> counts = DrawSequential(logits, Seeded(5), kNumDraws);
  EXPECT_TRUE(testing::ChiSquareRejects(counts, RefSoftmax(logits, 0.7)));
  EXPECT_FALSE(testing::ChiSquareRejects(counts, RefSoftmax(logits, 1.0)));
}

TEST(SamplerTopKTest, KeepsExactlyTheKHighest) {
  const std::vector<float> logits = RandomLogits(40, 21);
  SamplingParams p = Seeded(2);
  p.temperature = 0.8f;
  p.top_k = 5;
  const std::vector<double> want = RefProcessed(logits, p, {}, {});
  ExpectProbsNear(Processed(logits, p), want);
  // The support is the 5 largest logits: nothing outside ever appears.
  std::vector<float> sorted = logits;
  std::sort(sorted.rbegin(), sorted.rend());
  const std::vector<int> counts = DrawSequential(logits, p, kNumDraws);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] < sorted[4]) {
      EXPECT_EQ(counts[i], 0) << i;
    }
  }
  EXPECT_EQ(
      std::count_if(want.begin(), want.end(), [](double x) { return x > 0; }),
      5);
  ExpectFrequenciesMatch(counts, want);
}

TEST(SamplerTopKTest, TiesAtTheBoundaryKeepLowestIds) {
  const std::vector<float> logits = {0.0f, 2.0f, 1.0f, 1.0f, 1.0f, 3.0f};
  SamplingParams p = Seeded(3);
  p.top_k = 3;  // 5, 1, then one of {2, 3, 4} tied: id 2
  const std::vector<double> got = Processed(logits, p);
  ExpectProbsNear(got, RefProcessed(logits, p, {}, {}));
  EXPECT_GT(got[2], 0.0);
  EXPECT_EQ(got[3], 0.0);
  EXPECT_EQ(got[4], 0.0);
  p.top_k = 100;  // larger than V: disabled
  ExpectProbsNear(Processed(logits, p), RefSoftmax(logits));
  p.top_k = -1;
  ExpectProbsNear(Processed(logits, p), RefSoftmax(logits));
}

// Probabilities 1/2, 1/4, 1/8, 1/16, 1/16 (the last two tied).
std::vector<float> DyadicLogits() {
  return {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.0625f),
          std::log(0.0625f)};
}

TEST(SamplerTopPTest, KeepsSmallestPrefixReachingP) {
  const std::vector<float> logits = DyadicLogits();
  const std::vector<double> raw = RefSoftmax(logits);
  for (float top_p : {0.3f, 0.5f, 0.5001f, 0.75f, 0.7501f, 0.875f, 0.9f,
                      0.9375f, 0.95f, 1.0f}) {
    SamplingParams p = Seeded(4);
    p.top_p = top_p;
    const std::vector<double> got = Processed(logits, p);
    ExpectProbsNear(got, RefProcessed(logits, p, {}, {}));
    // Definition check on the raw probabilities: the kept set is a prefix
    // of the sorted order, reaches top_p, and without its last member would
    // not.
    double kept_mass = 0.0, smallest_kept = 1.0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == 0.0) continue;
      kept_mass += raw[i];
      smallest_kept = std::min(smallest_kept, raw[i]);
      if (i > 0) {
        EXPECT_GT(got[i - 1], 0.0) << "not a prefix at p=" << top_p;
      }
    }
    EXPECT_GE(kept_mass, top_p - 1e-6) << top_p;
    EXPECT_LT(kept_mass - smallest_kept, top_p - 1e-6) << top_p;
  }
  // Exact boundaries: mass exactly 0.75 keeps two tokens, 0.9375 keeps four
  // (the tie between ids 3 and 4 goes to the lower id).
  SamplingParams p = Seeded(4);
  p.top_p = 0.75f;
  EXPECT_EQ(Processed(logits, p)[2], 0.0);
  p.top_p = 0.9375f;
  const std::vector<double> got = Processed(logits, p);
  EXPECT_GT(got[3], 0.0);
  EXPECT_EQ(got[4], 0.0);
}

TEST(SamplerTopPTest, LargeVocabMatchesReference) {
  // Peaked logits over 5000 tokens: nuclei from 1 to thousands of tokens
  // exercise the incremental partial sort.
  const std::vector<float> logits = RandomLogits(5000, 31, 6.0f);
  for (float top_p : {0.01f, 0.2f, 0.6f, 0.9f, 0.99f, 0.9999f}) {
    for (int top_k : {0, 50, 3000}) {
      SamplingParams p = Seeded(5);
      p.top_p = top_p;
      p.top_k = top_k;
      p.temperature = 0.7f;
      ExpectProbsNear(Processed(logits, p), RefProcessed(logits, p, {}, {}),
                      1e-5);
    }
  }
}

TEST(SamplerTopPTest, FrequenciesMatch) {
  const std::vector<float> logits = RandomLogits(200, 41, 4.0f);
  SamplingParams p = Seeded(6);
  p.top_p = 0.8f;
  const std::vector<double> want = RefProcessed(logits, p, {}, {});
  ExpectFrequenciesMatch(DrawSequential(logits, p, kNumDraws), want);
}

TEST(SamplerMinPTest, DropsTokensBelowMinPTimesPMax) {
  const std::vector<float> logits = RandomLogits(30, 51, 3.0f);
  for (float min_p : {0.05f, 0.2f, 0.5f}) {
    SamplingParams p = Seeded(7);
    p.min_p = min_p;
    const std::vector<double> raw = RefSoftmax(logits);
    const double p_max = *std::max_element(raw.begin(), raw.end());
    const std::vector<double> want = RefProcessed(logits, p, {}, {});
    ExpectProbsNear(Processed(logits, p), want);
    const std::vector<int> counts = DrawSequential(logits, p, kNumDraws);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] < min_p * p_max) {
        EXPECT_EQ(counts[i], 0) << i;
      }
    }
    ExpectFrequenciesMatch(counts, want);
  }
}

struct FilterCase {
  float temperature;
  int top_k;
  float top_p, min_p;
};

TEST(SamplerCombinedTest, AllFiltersInOrder) {
  // Flat enough that each filter removes tokens, so the order of top-k,
  // top-p and min-p changes the result.
  const std::vector<float> logits = RandomLogits(1000, 61, 2.0f);
  for (const FilterCase& c :
       {FilterCase{1.3f, 40, 0.7f, 0.1f}, FilterCase{0.8f, 0, 0.5f, 0.3f},
        FilterCase{1.0f, 100, 0.9f, 0.5f}, FilterCase{0.5f, 20, 0.95f, 0.6f}}) {
    SamplingParams p = Seeded(8);
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    SCOPED_TRACE(::testing::Message() << c.temperature << " " << c.top_k << " "
                                      << c.top_p << " " << c.min_p);
    const std::vector<double> want = RefProcessed(logits, p, {}, {});
    ExpectProbsNear(Processed(logits, p), want);
    ExpectFrequenciesMatch(DrawSequential(logits, p, kNumDraws), want);
  }
}

TEST(SamplerLogprobsTest, RawLogSoftmaxAndSortedTopK) {
  const std::vector<float> logits = RandomLogits(500, 71, 4.0f);
  const std::vector<double> raw = RefSoftmax(logits);
  std::vector<int32_t> order(raw.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return raw[a] > raw[b]; });
  SamplingParams p = Seeded(9);
  p.temperature = 0.5f;  // logprobs must ignore temperature and filters
  p.top_k = 10;
  p.repetition_penalty = 1.5f;
  p.num_logprobs = 20;
  SequenceSamplerState state(p, {order[0], order[1]});
  for (int step = 0; step < 50; ++step) {
    absl::StatusOr<SampleResult> r = Sample(logits, p, state);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_NEAR(r->logprob, std::log(raw[r->token]), 1e-5);
    ASSERT_EQ(r->top_logprobs.size(), 20u);
    for (size_t i = 0; i < 20; ++i) {
      EXPECT_EQ(r->top_logprobs[i].token, order[i]);
      EXPECT_NEAR(r->top_logprobs[i].logprob, std::log(raw[order[i]]), 1e-5);
      if (i > 0) {
        EXPECT_GE(r->top_logprobs[i - 1].logprob, r->top_logprobs[i].logprob);
      }
    }
    state.Append(r->token);
  }
}

TEST(SamplerLogprobsTest, ZeroGivesOnlyChosenAndMinusOneGivesNone) {
  const std::vector<float> logits = RandomLogits(64, 81);
  SamplingParams p = Seeded(10);
  p.num_logprobs = 0;
  SequenceSamplerState state(p, {});
  absl::StatusOr<SampleResult> r = Sample(logits, p, state);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->top_logprobs.empty());
  EXPECT_NEAR(r->logprob, std::log(RefSoftmax(logits)[r->token]), 1e-5);
  p.num_logprobs = -1;
  r = Sample(logits, p, state);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->top_logprobs.empty());
  EXPECT_TRUE(std::isnan(r->logprob));
}

TEST(SamplerLogprobsTest, MaskedTokensAreNeverListed) {
  const float kNegInf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {1.0f, kNegInf, 0.5f, kNegInf};
  SamplingParams p = Seeded(11);
  p.num_logprobs = 4;
  SequenceSamplerState state(p, {});
  absl::StatusOr<SampleResult> r = Sample(logits, p, state);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->top_logprobs.size(), 2u);
  EXPECT_EQ(r->top_logprobs[0].token, 0);
  EXPECT_EQ(r->top_logprobs[1].token, 2);
}

}  // namespace
}  // namespace infernum::worker
