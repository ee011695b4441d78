// SimpleGenerate: single-sequence generation (prefill, then one decode step
// per token) straight on a LlamaModel, for the CLI and tests. The sequence
// uses the cache's blocks 0, 1, 2, ... in order. The engine's scheduler
// replaces this for serving.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/kv_cache.h"
#include "models/llama/llama_model.h"

namespace infernum::models {

// Picks the next token from the last position's logits ([vocab] f32).
using TokenPicker =
    std::function<absl::StatusOr<int32_t>(absl::Span<const float> logits)>;

// Greedy decoding: the argmax (lowest id on ties).
TokenPicker GreedyPicker();

struct SimpleGenerateOptions {
  int max_new_tokens = 128;
  // Prompt tokens per prefill step; 0 = the whole prompt in one step.
  int prefill_chunk_size = 0;
  // Generation stops after emitting one of these (it is included).
  std::vector<int32_t> stop_token_ids;
  // Called with each generated token as soon as it is picked; returning
  // false stops generation (that token is included). May be empty.
  std::function<bool(int32_t token)> on_token;
  // Called with the logits each picked token came from (for tests/debug).
  std::function<void(absl::Span<const float> logits)> on_logits;
};

// Runs `prompt` (non-empty) through `model` then generates up to
// max_new_tokens tokens with `pick`; returns the generated ids (the prompt
// excluded). Overwrites the cache's first ceil((prompt + max_new_tokens) /
// block_size) blocks. InvalidArgument when the prompt is empty, or when
// prompt + max_new_tokens exceeds the cache or max_position_embeddings;
// errors from the model or `pick` are returned as is.
absl::StatusOr<std::vector<int32_t>> SimpleGenerate(
    LlamaModel& model, KvCache& kv_cache, const std::vector<int32_t>& prompt,
    const SimpleGenerateOptions& options, const TokenPicker& pick);

}  // namespace infernum::models
