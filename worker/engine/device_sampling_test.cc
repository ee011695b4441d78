// The rows the runner sends to the on-device sampler carry the host
// sampler's random stream and penalty statistics.
#include "worker/engine/device_sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "worker/sampling/philox.h"

namespace infernum::worker {
namespace {

SamplingParams Seeded(uint64_t seed) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  p.seed = seed;
  p.num_logprobs = 3;
  return p;
}

TEST(DeviceSamplingTest, RowDrawsTheHostSamplersUniform) {
  for (uint64_t stream : {0ull, 1ull, 0x123456789ull}) {
    const SamplingParams params = Seeded(0xfeedbeefcafe1234ull);
    const std::vector<int32_t> prompt = {5, 6, 7};
    SequenceSamplerState state(params, prompt, stream);
    for (int step = 0; step < 5; ++step) {
      DeviceSamplingBatch batch;
      batch.AddRow(params, state);
      ASSERT_EQ(batch.rows.size(), 1u);
      const kernels::GpuSamplingRow& r = batch.rows[0];
      const PhiloxCounter out =
          Philox4x32({r.counter[0], r.counter[1], r.counter[2], r.counter[3]},
                     {r.key[0], r.key[1]});
      EXPECT_EQ(UniformFromWords(out[0], out[1]), state.NextUniform())
          << "stream " << stream << " step " << step;
      EXPECT_EQ(r.temperature, params.temperature);
      EXPECT_EQ(r.top_k, params.top_k);
      EXPECT_EQ(r.top_p, params.top_p);
      EXPECT_EQ(r.min_p, params.min_p);
      EXPECT_EQ(r.num_logprobs, params.num_logprobs);
      state.Append(100 + step);
    }
  }
}

TEST(DeviceSamplingTest, PenaltyListsHoldSeenTokensWithOutputCounts) {
  SamplingParams penalized = Seeded(1);
  penalized.repetition_penalty = 1.2f;
  penalized.frequency_penalty = 0.5f;
  const std::vector<int32_t> prompt = {3, 4, 4, 9};
  const std::vector<int32_t> outputs = {9, 10, 10, 10, 11};
  SequenceSamplerState a(penalized, prompt);
  for (int32_t t : outputs) a.Append(t);
  const SamplingParams plain = Seeded(2);
  SequenceSamplerState b(plain, prompt);

  DeviceSamplingBatch batch;
  batch.AddRow(plain, b);      // No penalties: empty range.
  batch.AddRow(penalized, a);  // Every seen token once.
  batch.AddPlaceholderRow();
  ASSERT_EQ(batch.rows.size(), 3u);
  EXPECT_EQ(batch.rows[0].penalty_begin, batch.rows[0].penalty_end);
  const kernels::GpuSamplingRow& r = batch.rows[1];
  EXPECT_EQ(r.repetition_penalty, 1.2f);
  EXPECT_EQ(r.frequency_penalty, 0.5f);
  std::map<int32_t, int32_t> listed;
  for (int32_t i = r.penalty_begin; i < r.penalty_end; ++i) {
    EXPECT_TRUE(
        listed.emplace(batch.penalty_tokens[i], batch.penalty_counts[i]).second)
        << "token " << batch.penalty_tokens[i] << " listed twice";
  }
  std::map<int32_t, int32_t> expected;
  for (int32_t t : prompt) expected[t] = 0;
  for (int32_t t : outputs) ++expected[t];
  EXPECT_EQ(listed, expected);
  // The placeholder is greedy, without logprobs or penalties.
  EXPECT_EQ(batch.rows[2].temperature, 0.0f);
  EXPECT_LT(batch.rows[2].num_logprobs, 0);
  EXPECT_EQ(batch.rows[2].penalty_begin, batch.rows[2].penalty_end);
  EXPECT_EQ(static_cast<size_t>(batch.rows[2].penalty_end),
            batch.penalty_tokens.size());
}

TEST(DeviceSamplingTest, ResultsConvertRowByRow) {
  kernels::GpuSamplingResult result;
  result.tokens = {7, 8};
  result.logprobs = {-0.5f, -1.5f};
  const int k = kernels::kMaxGpuTopLogprobs;
  result.top_tokens.assign(2 * k, -1);
  result.top_logprobs.assign(2 * k, -INFINITY);
  result.top_tokens[k + 0] = 8;
  result.top_logprobs[k + 0] = -1.5f;
  result.top_tokens[k + 1] = 2;
  result.top_logprobs[k + 1] = -2.0f;

  const SampleResult none = ToSampleResult(result, 0, -1);
  EXPECT_EQ(none.token, 7);
  EXPECT_TRUE(std::isnan(none.logprob));
  EXPECT_TRUE(none.top_logprobs.empty());

  const SampleResult one = ToSampleResult(result, 1, 1);
  EXPECT_EQ(one.token, 8);
  EXPECT_EQ(one.logprob, -1.5f);
  ASSERT_EQ(one.top_logprobs.size(), 1u);
  EXPECT_EQ(one.top_logprobs[0].token, 8);

  // Asking for 5 yields the 2 the device found (then -1 entries).
  const SampleResult five = ToSampleResult(result, 1, 5);
  ASSERT_EQ(five.top_logprobs.size(), 2u);
  EXPECT_EQ(five.top_logprobs[1].token, 2);
  EXPECT_EQ(five.top_logprobs[1].logprob, -2.0f);
}

}  // namespace
}  // namespace infernum::worker
