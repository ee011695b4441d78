// Log-probabilities reported with sampled tokens.
//
// They come from the model's RAW distribution, log_softmax of the unmodified
// logits (before penalties, temperature, top-k/top-p/min-p), which is what
// vLLM reports by default. So a token that sampling could never pick (e.g.
// outside top-k) still has a finite logprob, and temperature does not change
// the numbers.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace infernum::worker {

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct RawLogprobs {
  float chosen;                   // log_softmax(logits)[token]
  std::vector<TokenLogprob> top;  // most likely first, ties -> lowest id
};

// Softmax in f32 with max subtraction and a double accumulator. `logits`
// passed CheckLogits (finite or -inf, at least one finite); `token` is in
// range. `num_top` <= 0 gives an empty `top`; masked (-inf) tokens are never
// listed in `top`. O(V log num_top), no allocation of size V.
RawLogprobs ComputeRawLogprobs(absl::Span<const float> logits, int32_t token,
                               int num_top);

}  // namespace infernum::worker
