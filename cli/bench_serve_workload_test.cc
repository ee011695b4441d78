#include "cli/bench_serve_workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "cli/bench_serve_load.h"

namespace infernum::cli {
namespace {

WorkloadParams SharedPrefix() {
  WorkloadParams p;
  p.dataset = "shared-prefix";
  p.num_prompts = 200;
  p.num_prefixes = 4;
  p.prefix_len = 64;
  p.suffix_len = 8;
  p.vocab = 300;
  p.seed = 7;
  return p;
}

TEST(MakePromptsTest, SharedPrefixUsesEveryPrefixAndDistinctSuffixes) {
  const WorkloadParams p = SharedPrefix();
  const auto prompts = MakePrompts(p);
  ASSERT_EQ(prompts.size(), 200u);
  std::set<std::vector<int32_t>> prefixes, suffixes;
  for (const auto& prompt : prompts) {
    ASSERT_EQ(prompt.size(), 72u);
    for (int32_t id : prompt) {
      EXPECT_GE(id, 3);
      EXPECT_LT(id, 300);
    }
    prefixes.emplace(prompt.begin(), prompt.begin() + 64);
    suffixes.emplace(prompt.begin() + 64, prompt.end());
  }
  EXPECT_EQ(prefixes.size(), 4u);  // 200 uniform draws hit all 4.
  EXPECT_EQ(suffixes.size(), 200u);
}

TEST(MakePromptsTest, DeterministicInTheSeed) {
  WorkloadParams p = SharedPrefix();
  EXPECT_EQ(MakePrompts(p), MakePrompts(p));
  WorkloadParams q = p;
  q.seed = 8;
  EXPECT_NE(MakePrompts(p), MakePrompts(q));
}

TEST(MakePromptsTest, RandomDatasetIsRandomPrompts) {
  WorkloadParams p;
  p.num_prompts = 5;
  p.input_len = 9;
  p.vocab = 100;
  p.seed = 3;
  EXPECT_EQ(MakePrompts(p), RandomPrompts(5, 9, 100, 3));
}

TEST(WarmupPromptTest, SharedPrefixWarmupSharesNoFirstBlock) {
  const WorkloadParams p = SharedPrefix();
  const auto prompts = MakePrompts(p);
  const std::vector<int32_t> warm = WarmupPrompt(p, prompts);
  EXPECT_EQ(warm.size(), 8u);
  for (const auto& prompt : prompts) {
    EXPECT_FALSE(std::equal(warm.begin(), warm.end(), prompt.begin()));
  }
  WorkloadParams r;
  r.num_prompts = 2;
  const auto random = MakePrompts(r);
  EXPECT_EQ(WarmupPrompt(r, random), random.front());
}

TEST(ValidateWorkloadTest, RejectsBadDatasetAndLengths) {
  EXPECT_TRUE(ValidateWorkload(SharedPrefix()).ok());
  WorkloadParams p = SharedPrefix();
  p.dataset = "sharegpt";
  EXPECT_EQ(ValidateWorkload(p).code(), absl::StatusCode::kInvalidArgument);
  p = SharedPrefix();
  p.prefix_len = 0;
  EXPECT_FALSE(ValidateWorkload(p).ok());
  p = SharedPrefix();
  p.num_prefixes = 0;
  EXPECT_FALSE(ValidateWorkload(p).ok());
  WorkloadParams r;
  r.input_len = -1;
  EXPECT_FALSE(ValidateWorkload(r).ok());
}

constexpr char kExposition[] =
    "# HELP infernum:prompt_tokens_total Prompt tokens.\n"
    "# TYPE infernum:prompt_tokens_total counter\n"
    "infernum:prompt_tokens_total{model_name=\"a\"} 1200\n"
    "infernum:prompt_tokens_total{model_name=\"b } x\",k=\"q\\\"}\"} 34.5\r\n"
    "infernum:prompt_tokens_total_created{model_name=\"a\"} 17e8\n"
    "infernum:prompt_tokens_totalx 99\n"
    "infernum:prefix_cache_hits_total{model_name=\"a\"} 1000 1712000000000\n"
    "infernum:generation_tokens_total 5\n"
    "infernum:kv_cache_usage_perc{model_name=\"a\"} +Inf\n"
    "garbage line without value\n"
    "infernum:generation_tokens_total{model_name=\"a\"} notanumber\n";

TEST(SumSamplesTest, SumsOnlyExactNamesAcrossLabels) {
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "infernum:prompt_tokens_total"),
                   1234.5);
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "infernum:prefix_cache_hits_total"),
                   1000);
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "infernum:generation_tokens_total"),
                   5);
  EXPECT_TRUE(
      std::isinf(SumSamples(kExposition, "infernum:kv_cache_usage_perc")));
  EXPECT_DOUBLE_EQ(SumSamples(kExposition, "absent"), 0);
  EXPECT_DOUBLE_EQ(SumSamples("", "x"), 0);
}

TEST(CountersFromTextTest, PrefillComputedIsPromptMinusHits) {
  const WorkerCounters c = CountersFromText(kExposition);
  EXPECT_DOUBLE_EQ(c.prefill_computed(), 234.5);
  const WorkerCounters d = Delta(c, WorkerCounters{200, 100, 1});
  EXPECT_DOUBLE_EQ(d.prompt_tokens, 1034.5);
  EXPECT_DOUBLE_EQ(d.prefix_cache_hits, 900);
  EXPECT_DOUBLE_EQ(d.generation_tokens, 4);
}

}  // namespace
}  // namespace infernum::cli
