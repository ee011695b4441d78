#include "worker/sampling/stop_conditions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace infernum::worker {
namespace {

bool Contains(const std::vector<int32_t>& ids, int32_t token) {
  return std::find(ids.begin(), ids.end(), token) != ids.end();
}

}  // namespace

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kStop:
      return "stop";
    case StopReason::kLength:
      return "length";
    case StopReason::kNone:
      break;
  }
  return "";
}

absl::Status StopConditions::Validate() const {
  if (max_tokens == -1 || max_tokens >= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "max_tokens must be -1 (no limit) or >= 1, got ", max_tokens));
}

StopDecision CheckStop(const StopConditions& conditions, int32_t token,
                       int num_generated) {
  const bool is_eos =
      !conditions.ignore_eos && Contains(conditions.eos_ids, token);
  if (is_eos || Contains(conditions.stop_token_ids, token)) {
    return {StopReason::kStop, token};
  }
  if (conditions.max_tokens >= 1 && num_generated >= conditions.max_tokens) {
    return {StopReason::kLength, std::nullopt};
  }
  return {};
}

}  // namespace infernum::worker
