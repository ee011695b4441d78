#include "worker/sampling/sampling_params.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace infernum::worker {
namespace {

absl::Status OutOfRange(const char* field, const char* range, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be ", range, ", got ", value));
}

// Checks lo <= value <= hi (with strict ends when requested) and finiteness.
absl::Status CheckRange(const char* field, const char* range, float value,
                        float lo, bool lo_open, float hi) {
  const bool ok = std::isfinite(value) &&
                  (lo_open ? value > lo : value >= lo) && value <= hi;
  return ok ? absl::OkStatus() : OutOfRange(field, range, value);
}

}  // namespace

absl::Status SamplingParams::Validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f) {
    return OutOfRange("temperature", "finite and >= 0", temperature);
  }
  if (top_k < -1) {
    return OutOfRange("top_k", "-1, 0 (disabled) or >= 1", top_k);
  }
  absl::Status st =
      CheckRange("top_p", "in (0, 1]", top_p, 0.0f, /*lo_open=*/true, 1.0f);
  if (!st.ok()) return st;
  st = CheckRange("min_p", "in [0, 1]", min_p, 0.0f, false, 1.0f);
  if (!st.ok()) return st;
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f) {
    return OutOfRange("repetition_penalty", "finite and > 0",
                      repetition_penalty);
  }
  st = CheckRange("presence_penalty", "in [-2, 2]", presence_penalty, -2.0f,
                  false, 2.0f);
  if (!st.ok()) return st;
  st = CheckRange("frequency_penalty", "in [-2, 2]", frequency_penalty, -2.0f,
                  false, 2.0f);
  if (!st.ok()) return st;
  if (num_logprobs < -1 || num_logprobs > kMaxNumLogprobs) {
    const std::string range =
        absl::StrCat("-1 (none) or in [0, ", kMaxNumLogprobs, "]");
    return OutOfRange("num_logprobs", range.c_str(), num_logprobs);
  }
  return absl::OkStatus();
}

bool SamplingParams::IsGreedy() const {
  return temperature < kGreedyTemperature || top_k == 1;
}

bool SamplingParams::HasPenalties() const {
  return repetition_penalty != 1.0f || presence_penalty != 0.0f ||
         frequency_penalty != 0.0f;
}

}  // namespace infernum::worker
