// On-GPU sampling against the CPU sampler (worker/sampling): greedy rows give
// the CPU's token; sampled rows follow ProcessedProbabilities (the CPU's exact
// post-filter distribution) within sampling error over many draws; logprobs
// match ComputeRawLogprobs; results are deterministic; bad logits are
// rejected. Skipped without a GPU.
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_test_util.h"
#include "worker/sampling/logprobs.h"
#include "worker/sampling/sampler.h"

namespace infernum::kernels::cuda_testing {
namespace {

using worker::SamplingParams;
using worker::SequenceSamplerState;

constexpr int64_t kVocab = 64;

class CudaSamplingTest : public CudaVsCpuTest {
 public:
  // The GPU row for `params` at output position `n`, with the penalty list
  // of (prompt, output) appended to tokens/counts.
  GpuSamplingRow Row(const SamplingParams& params,
                     const std::vector<int32_t>& prompt,
                     const std::vector<int32_t>& output, uint64_t n) {
    GpuSamplingRow r;
    r.temperature = params.temperature;
    r.top_k = params.top_k;
    r.top_p = params.top_p;
    r.min_p = params.min_p;
    r.repetition_penalty = params.repetition_penalty;
    r.presence_penalty = params.presence_penalty;
    r.frequency_penalty = params.frequency_penalty;
    const uint64_t seed = params.seed.value_or(0);
    r.key[0] = static_cast<uint32_t>(seed);
    r.key[1] = static_cast<uint32_t>(seed >> 32);
    r.counter[0] = static_cast<uint32_t>(n);
    r.counter[1] = static_cast<uint32_t>(n >> 32);
    r.num_logprobs = params.num_logprobs;
    std::map<int32_t, int32_t> counts;
    for (int32_t t : prompt) counts.emplace(t, 0);
    for (int32_t t : output) ++counts[t];
    r.penalty_begin = static_cast<int32_t>(pen_tokens_.size());
    for (const auto& [t, c] : counts) {
      pen_tokens_.push_back(t);
      pen_counts_.push_back(c);
    }
    r.penalty_end = static_cast<int32_t>(pen_tokens_.size());
    return r;
  }

  absl::StatusOr<GpuSamplingResult> Run(
      const std::vector<float>& logits,
      const std::vector<GpuSamplingRow>& rows) {
    const int64_t n = static_cast<int64_t>(rows.size());
    GpuSamplingInputs in{Gpu(logits, DType::kF32, {n, kVocab}), rows,
                         pen_tokens_, pen_counts_};
    return gpu().Sample(in, gs());
  }

  // Draws `draws` tokens for one (logits, params, history) and compares the
  // frequencies with the CPU sampler's exact distribution.
  void CheckDistribution(const std::vector<float>& logits,
                         const SamplingParams& params,
                         const std::vector<int32_t>& prompt,
                         const std::vector<int32_t>& output,
                         const std::string& what) {
    constexpr int kDraws = 20000;
    SequenceSamplerState state(params, prompt);
    for (int32_t t : output) state.Append(t);
    auto want = worker::ProcessedProbabilities(logits, params, state);
    ASSERT_TRUE(want.ok()) << want.status();
    pen_tokens_.clear();
    pen_counts_.clear();
    std::vector<GpuSamplingRow> rows;
    std::vector<float> all;
    for (int i = 0; i < kDraws; ++i) {
      rows.push_back(Row(params, prompt, output, i));
      all.insert(all.end(), logits.begin(), logits.end());
    }
    auto got = Run(all, rows);
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<int> hist(kVocab, 0);
    for (int32_t t : got->tokens) {
      ASSERT_GE(t, 0);
      ASSERT_LT(t, kVocab);
      ++hist[t];
    }
    for (int64_t j = 0; j < kVocab; ++j) {
      const double p = (*want)[j], f = static_cast<double>(hist[j]) / kDraws;
      const double bound = 5.0 * std::sqrt(p * (1 - p) / kDraws) + 1e-3;
      EXPECT_LE(std::fabs(f - p), bound)
          << what << ": token " << j << " freq " << f << " p " << p;
    }
  }

  std::vector<float> Logits(float lo = -3, float hi = 3) {
    return Random(kVocab, lo, hi, DType::kF32);
  }

  std::vector<int32_t> pen_tokens_, pen_counts_;
};

TEST_F(CudaSamplingTest, DistributionsMatchCpuSampler) {
  const auto logits = Logits();
  SamplingParams p;
  p.seed = 7;
  p.temperature = 0.7f;
  CheckDistribution(logits, p, {}, {}, "temperature");
  p = {};
  p.seed = 8;
  p.top_k = 5;
  CheckDistribution(logits, p, {}, {}, "top_k");
  p = {};
  p.seed = 9;
  p.temperature = 1.3f;
  p.top_p = 0.8f;
  CheckDistribution(logits, p, {}, {}, "top_p");
  p = {};
  p.seed = 10;
  p.min_p = 0.1f;
  CheckDistribution(logits, p, {}, {}, "min_p");
  p = {};
  p.seed = 11;
  p.repetition_penalty = 1.3f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.3f;
  p.top_k = 20;
  p.top_p = 0.9f;
  CheckDistribution(logits, p, {1, 2, 3, 40, 41}, {3, 3, 7, 41, 50},
                    "penalties+top_k+top_p");
}

TEST_F(CudaSamplingTest, TopKKeepsExactlyKWithTiesByLowestId) {
  std::vector<float> logits(kVocab, -5.0f);
  for (int j : {10, 20, 30, 40}) logits[j] = 1.0f;  // Four-way tie.
  logits[5] = 2.0f;
  SamplingParams p;
  p.seed = 3;
  p.top_k = 3;  // Keeps 5, 10, 20.
  CheckDistribution(logits, p, {}, {}, "tied top_k");
  // top_p near 1 needs the whole tied group of what top_k kept: 30 and 40
  // must stay out.
  p.top_p = 0.99f;
  CheckDistribution(logits, p, {}, {}, "tied top_k, then top_p");
}

TEST_F(CudaSamplingTest, GreedyRowsMatchCpuAndLogprobs) {
  const int rows = 8;
  std::vector<float> all;
  std::vector<GpuSamplingRow> params;
  std::vector<SamplingParams> cpu_params;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < rows; ++i) {
    const auto logits = Logits(-10, 10);
    all.insert(all.end(), logits.begin(), logits.end());
    SamplingParams p;
    p.temperature = i % 2 == 0 ? 0.0f : 1.0f;
    p.top_k = i % 2 == 0 ? 0 : 1;
    p.repetition_penalty = i < 4 ? 1.0f : 2.0f;
    p.num_logprobs = i % 3 == 0 ? -1 : 5;
    std::vector<int32_t> prompt = {static_cast<int32_t>(i), 17, 33};
    params.push_back(Row(p, prompt, {}, 0));
    cpu_params.push_back(p);
    prompts.push_back(prompt);
  }
  auto got = Run(all, params);
  ASSERT_TRUE(got.ok()) << got.status();
  for (int i = 0; i < rows; ++i) {
    const std::vector<float> logits(all.begin() + i * kVocab,
                                    all.begin() + (i + 1) * kVocab);
    SequenceSamplerState state(cpu_params[i], prompts[i]);
    auto want = worker::Sample(logits, cpu_params[i], state);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(got->tokens[i], want->token) << "row " << i;
    if (cpu_params[i].num_logprobs < 0) {
      EXPECT_TRUE(std::isnan(got->logprobs[i]));
      EXPECT_EQ(got->top_tokens[i * kMaxGpuTopLogprobs], -1);
      continue;
    }
    EXPECT_NEAR(got->logprobs[i], want->logprob, 1e-4) << "row " << i;
    ASSERT_EQ(want->top_logprobs.size(), 5u);
    for (int j = 0; j < kMaxGpuTopLogprobs; ++j) {
      const int at = i * kMaxGpuTopLogprobs + j;
      if (j < 5) {
        EXPECT_EQ(got->top_tokens[at], want->top_logprobs[j].token)
            << "row " << i << " #" << j;
        EXPECT_NEAR(got->top_logprobs[at], want->top_logprobs[j].logprob, 1e-4);
      } else {
        EXPECT_EQ(got->top_tokens[at], -1);
      }
    }
  }
}

TEST_F(CudaSamplingTest, DeterministicAndCounterSensitive) {
  const auto logits = Logits();
  SamplingParams p;
  p.seed = 1234;
  std::vector<float> all;
  std::vector<GpuSamplingRow> rows;
  for (int i = 0; i < 256; ++i) {
    rows.push_back(Row(p, {}, {}, i));
    all.insert(all.end(), logits.begin(), logits.end());
  }
  auto a = Run(all, rows), b = Run(all, rows);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  std::map<int32_t, int> distinct;
  for (int32_t t : a->tokens) ++distinct[t];
  EXPECT_GT(distinct.size(), 5u);  // Different counters give different draws.
}

TEST_F(CudaSamplingTest, RejectsBadLogitsAndParams) {
  SamplingParams p;
  auto logits = Logits();
  logits[3] = std::numeric_limits<float>::quiet_NaN();
  auto nan = Run(logits, {Row(p, {}, {}, 0)});
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> masked(kVocab, -std::numeric_limits<float>::infinity());
  EXPECT_EQ(Run(masked, {Row(p, {}, {}, 0)}).status().code(),
            absl::StatusCode::kInvalidArgument);
  GpuSamplingRow bad = Row(p, {}, {}, 0);
  bad.penalty_end = 1000;
  EXPECT_EQ(Run(Logits(), {bad}).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = Row(p, {}, {}, 0);
  bad.num_logprobs = 21;
  EXPECT_EQ(Run(Logits(), {bad}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infernum::kernels::cuda_testing
