#include "models/llama/simple_generate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace infernum::models {
namespace {

// One step over prompt/generated positions [start, start + tokens.size())
// of the single sequence, whose blocks are 0, 1, 2, ...
ForwardBatch MakeStep(const std::vector<int32_t>& tokens, int start,
                      int max_blocks, bool want_logits) {
  ForwardBatch b;
  const int n = static_cast<int>(tokens.size());
  b.token_ids = tokens;
  for (int i = 0; i < n; ++i) {
    b.positions.push_back(start + i);
    b.slot_mapping.push_back(start + i);  // Block p / bs at offset p % bs.
  }
  b.query_start_loc = {0, n};
  b.seq_lens = {start + n};
  b.max_blocks_per_seq = max_blocks;
  for (int j = 0; j < max_blocks; ++j) b.block_tables.push_back(j);
  if (want_logits) b.logits_indices = {n - 1};
  return b;
}

}  // namespace

TokenPicker GreedyPicker() {
  return [](absl::Span<const float> logits) -> absl::StatusOr<int32_t> {
    if (logits.empty()) return absl::InvalidArgumentError("empty logits");
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                logits.begin());
  };
}

absl::StatusOr<std::vector<int32_t>> SimpleGenerate(
    LlamaModel& model, KvCache& kv_cache, const std::vector<int32_t>& prompt,
    const SimpleGenerateOptions& options, const TokenPicker& pick) {
  const int num_prompt = static_cast<int>(prompt.size());
  if (num_prompt == 0) return absl::InvalidArgumentError("empty prompt");
  const int64_t total = num_prompt + std::max(0, options.max_new_tokens);
  const int64_t max_pos = model.config().max_position_embeddings;
  if (total > kv_cache.num_slots() || (max_pos > 0 && total > max_pos)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt (", num_prompt, ") + max_new_tokens (", options.max_new_tokens,
        ") exceeds the KV cache (", kv_cache.num_slots(),
        " tokens) or max_position_embeddings (", max_pos, ")"));
  }
  const int bs = kv_cache.block_size();
  const int max_blocks = static_cast<int>((total + bs - 1) / bs);
  const int chunk =
      options.prefill_chunk_size > 0 ? options.prefill_chunk_size : num_prompt;
  std::vector<float> logits;
  std::vector<int32_t> generated;
  if (options.max_new_tokens <= 0) return generated;
  for (int start = 0; start < num_prompt; start += chunk) {
    const int end = std::min(num_prompt, start + chunk);
    std::vector<int32_t> tokens(prompt.begin() + start, prompt.begin() + end);
    RETURN_IF_ERROR(
        model.Forward(MakeStep(tokens, start, max_blocks, end == num_prompt),
                      kv_cache, logits, nullptr));
  }
  int position = num_prompt;
  while (true) {
    if (options.on_logits) options.on_logits(logits);
    ASSIGN_OR_RETURN(int32_t next, pick(logits));
    generated.push_back(next);
    const bool stop =
        std::find(options.stop_token_ids.begin(), options.stop_token_ids.end(),
                  next) != options.stop_token_ids.end();
    const bool keep_going = !options.on_token || options.on_token(next);
    if (stop || !keep_going ||
        static_cast<int>(generated.size()) >= options.max_new_tokens) {
      return generated;
    }
    RETURN_IF_ERROR(model.Forward(MakeStep({next}, position, max_blocks,
                                           /*want_logits=*/true),
                                  kv_cache, logits, nullptr));
    ++position;
  }
}

}  // namespace infernum::models
