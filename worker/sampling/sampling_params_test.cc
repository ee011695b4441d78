#include "worker/sampling/sampling_params.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace infernum::worker {
namespace {

struct BadCase {
  std::string field;
  std::function<void(SamplingParams&)> mutate;
};

void ExpectRejected(const BadCase& c) {
  SamplingParams p;
  c.mutate(p);
  const absl::Status st = p.Validate();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.field;
  EXPECT_NE(std::string(st.message()).find(c.field), std::string::npos)
      << st.message();
}

TEST(SamplingParamsTest, DefaultsAndBoundariesAreValid) {
  EXPECT_TRUE(SamplingParams().Validate().ok());
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_k = -1;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repetition_penalty = 1e-3f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.num_logprobs = kMaxNumLogprobs;
  p.seed = std::numeric_limits<uint64_t>::max();
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
  p.min_p = 0.0f;
  p.presence_penalty = 2.0f;
  p.frequency_penalty = -2.0f;
  p.num_logprobs = 0;
  p.top_p = 1e-6f;
  p.top_k = 100000;
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
}

TEST(SamplingParamsTest, RejectsEachOutOfRangeField) {
  const float kNan = std::numeric_limits<float>::quiet_NaN();
  const float kInf = std::numeric_limits<float>::infinity();
  const std::vector<BadCase> cases = {
      {"temperature", [](SamplingParams& p) { p.temperature = -0.01f; }},
      {"temperature", [&](SamplingParams& p) { p.temperature = kNan; }},
      {"temperature", [&](SamplingParams& p) { p.temperature = kInf; }},
      {"top_k", [](SamplingParams& p) { p.top_k = -2; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = -0.5f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.0001f; }},
      {"top_p", [&](SamplingParams& p) { p.top_p = kNan; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.01f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.01f; }},
      {"min_p", [&](SamplingParams& p) { p.min_p = kNan; }},
      {"repetition_penalty",
       [](SamplingParams& p) { p.repetition_penalty = 0.0f; }},
      {"repetition_penalty",
       [](SamplingParams& p) { p.repetition_penalty = -1.0f; }},
      {"repetition_penalty",
       [&](SamplingParams& p) { p.repetition_penalty = kNan; }},
      {"repetition_penalty",
       [&](SamplingParams& p) { p.repetition_penalty = kInf; }},
      {"presence_penalty",
       [](SamplingParams& p) { p.presence_penalty = 2.01f; }},
      {"presence_penalty",
       [](SamplingParams& p) { p.presence_penalty = -2.01f; }},
      {"presence_penalty",
       [&](SamplingParams& p) { p.presence_penalty = kNan; }},
      {"frequency_penalty",
       [](SamplingParams& p) { p.frequency_penalty = 2.01f; }},
      {"frequency_penalty",
       [](SamplingParams& p) { p.frequency_penalty = -2.01f; }},
      {"frequency_penalty",
       [&](SamplingParams& p) { p.frequency_penalty = kNan; }},
      {"num_logprobs",
       [](SamplingParams& p) { p.num_logprobs = kMaxNumLogprobs + 1; }},
      {"num_logprobs", [](SamplingParams& p) { p.num_logprobs = -2; }},
  };
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(SamplingParamsTest, MessageNamesRangeAndValue) {
  SamplingParams p;
  p.top_p = 1.5f;
  const std::string msg(p.Validate().message());
  EXPECT_NE(msg.find("(0, 1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.5"), std::string::npos) << msg;
}

TEST(SamplingParamsTest, GreedyAndPenaltyPredicates) {
  SamplingParams p;
  EXPECT_FALSE(p.IsGreedy());
  EXPECT_FALSE(p.HasPenalties());
  p.temperature = 0.0f;
  EXPECT_TRUE(p.IsGreedy());
  p.temperature = 1.0f;
  p.top_k = 1;
  EXPECT_TRUE(p.IsGreedy());
  p.presence_penalty = 0.1f;
  EXPECT_TRUE(p.HasPenalties());
}

}  // namespace
}  // namespace infernum::worker
