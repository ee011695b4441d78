// Per-step stop check for a generating sequence (token-level conditions only;
// stop strings are matched on detokenized text elsewhere).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace infernum::worker {

// Named StopReason (not FinishReason) so that it can share a translation unit
// with the engine's worker::FinishReason (worker/engine/request.h).
enum class StopReason { kNone, kStop, kLength };

// OpenAI's finish_reason: "stop", "length"; "" for kNone.
std::string_view StopReasonName(StopReason reason);

struct StopConditions {
  std::vector<int32_t> eos_ids;         // the model's end-of-sequence ids
  std::vector<int32_t> stop_token_ids;  // request's extra stop ids
  bool ignore_eos = false;              // eos_ids do not stop (stop ids do)
  int max_tokens = -1;                  // -1 => no limit here; else >= 1

  // InvalidArgument unless max_tokens == -1 or max_tokens >= 1.
  absl::Status Validate() const;
};

struct StopDecision {
  StopReason reason = StopReason::kNone;
  // For kStop: the eos / stop id that ended the sequence. It counts as
  // generated and is reported (logprobs, OpenAI "stop_reason"), but it is NOT
  // part of the returned text.
  std::optional<int32_t> stop_token;
};

// Call after each generated token, with `num_generated` counting it (1 after
// the first). An eos (unless ignore_eos) or stop id gives kStop; otherwise
// reaching max_tokens gives kLength. kStop wins when both hold.
StopDecision CheckStop(const StopConditions& conditions, int32_t token,
                       int num_generated);

}  // namespace infernum::worker
