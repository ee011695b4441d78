#include "worker/sampling/stop_conditions.h"

#include "gtest/gtest.h"

namespace infernum::worker {
namespace {

StopConditions Llama() {
  StopConditions c;
  c.eos_ids = {2};
  c.stop_token_ids = {1};  // stories260K ends a story with BOS (id 1)
  c.max_tokens = 5;
  return c;
}

TEST(StopConditionsTest, EosAndStopIdsStopAndAreReported) {
  const StopConditions c = Llama();
  for (int32_t token : {1, 2}) {
    const StopDecision d = CheckStop(c, token, 3);
    EXPECT_EQ(d.reason, StopReason::kStop);
    EXPECT_EQ(d.stop_token, token);
  }
  const StopDecision d = CheckStop(c, 7, 3);
  EXPECT_EQ(d.reason, StopReason::kNone);
  EXPECT_FALSE(d.stop_token.has_value());
}

TEST(StopConditionsTest, IgnoreEosKeepsStopIds) {
  StopConditions c = Llama();
  c.ignore_eos = true;
  EXPECT_EQ(CheckStop(c, 2, 3).reason, StopReason::kNone);
  EXPECT_EQ(CheckStop(c, 1, 3).reason, StopReason::kStop);
}

TEST(StopConditionsTest, LengthAtMaxTokensAndStopWins) {
  const StopConditions c = Llama();
  EXPECT_EQ(CheckStop(c, 7, 4).reason, StopReason::kNone);
  const StopDecision d = CheckStop(c, 7, 5);
  EXPECT_EQ(d.reason, StopReason::kLength);
  EXPECT_FALSE(d.stop_token.has_value());
  EXPECT_EQ(CheckStop(c, 2, 5).reason, StopReason::kStop);
  StopConditions unlimited = c;
  unlimited.max_tokens = -1;
  EXPECT_EQ(CheckStop(unlimited, 7, 1 << 30).reason, StopReason::kNone);
}

TEST(StopConditionsTest, ValidateAndNames) {
  StopConditions c;
  EXPECT_TRUE(c.Validate().ok());
  c.max_tokens = 1;
  EXPECT_TRUE(c.Validate().ok());
  for (int bad : {0, -2}) {
    c.max_tokens = bad;
    EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(StopReasonName(StopReason::kStop), "stop");
  EXPECT_EQ(StopReasonName(StopReason::kLength), "length");
  EXPECT_EQ(StopReasonName(StopReason::kNone), "");
}

}  // namespace
}  // namespace infernum::worker
