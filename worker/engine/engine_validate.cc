// Engine configuration and request validation (engine.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "worker/engine/engine.h"

namespace infernum::worker {

absl::StatusOr<EngineConfig> ResolveEngineConfig(
    const EngineConfig& in, const models::LlamaModel& model) {
  EngineConfig c = in;
  const int context = model.config().max_position_embeddings;
  if (c.block_size < 1 || c.max_num_seqs < 1 || c.max_num_batched_tokens < 1 ||
      c.max_model_len < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "engine: block_size (", c.block_size, "), max_num_seqs (",
        c.max_num_seqs, ") and max_num_batched_tokens (",
        c.max_num_batched_tokens, ") must be positive, max_model_len (",
        c.max_model_len, ") >= 0"));
  }
  if (c.max_model_len == 0) c.max_model_len = context;
  if (c.max_model_len > context) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine: max_model_len ", c.max_model_len,
                     " exceeds the model's context of ", context));
  }
  if (c.num_blocks <= 0) {
    if (c.kv_cache_memory_bytes <= 0) {
      return absl::InvalidArgumentError(
          "engine: give num_blocks or kv_cache_memory_bytes");
    }
    const models::KvCacheShape shape = model.MakeKvCacheShape(1, c.block_size);
    const int64_t fit = models::KvCache::NumBlocksThatFit(
        static_cast<size_t>(c.kv_cache_memory_bytes), shape);
    if (fit < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "engine: KV cache memory of ", c.kv_cache_memory_bytes,
          " bytes holds no block (", shape.BytesPerBlock(), " bytes each)"));
    }
    c.num_blocks = static_cast<int>(std::min<int64_t>(fit, 1 << 30));
  }
  return c;
}

int Engine::ResolveMaxTokens(const EngineRequest& r) const {
  if (r.max_tokens > 0) return r.max_tokens;
  // Until the context or the whole cache is full (the last token's KV is
  // never written, hence + 1).
  const int64_t limit = std::min<int64_t>(
      config_.max_model_len,
      static_cast<int64_t>(config_.num_blocks) * config_.block_size + 1);
  return static_cast<int>(limit -
                          static_cast<int64_t>(r.prompt_token_ids.size()));
}

absl::Status Engine::ValidateRequest(const EngineRequest& r) const {
  const std::string& id = r.request_id;
  if (id.empty()) return absl::InvalidArgumentError("request_id is empty");
  const int64_t num_prompt = r.prompt_token_ids.size();
  if (num_prompt == 0) {
    return absl::InvalidArgumentError(absl::StrCat(id, ": empty prompt"));
  }
  const int vocab = model_.config().vocab_size;
  for (int32_t t : r.prompt_token_ids) {
    if (t < 0 || t >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          id, ": prompt token id ", t, " is outside [0, ", vocab, ")"));
    }
  }
  for (int32_t t : r.stop_token_ids) {
    if (t < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(id, ": negative stop token id ", t));
    }
  }
  if (absl::Status st = r.sampling.Validate(); !st.ok())
    return Annotate(st, id);
  if (r.max_tokens < 0 || r.min_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(id, ": max_tokens (", r.max_tokens, ") and min_tokens (",
                     r.min_tokens, ") must be >= 0"));
  }
  if (r.num_previously_generated < 0 ||
      r.num_previously_generated >= num_prompt) {
    return absl::InvalidArgumentError(absl::StrCat(
        id, ": num_previously_generated (", r.num_previously_generated,
        ") must be in [0, prompt length ", num_prompt, ")"));
  }
  const int64_t max_tokens = ResolveMaxTokens(r);
  if (max_tokens < 1 || num_prompt + max_tokens > config_.max_model_len) {
    return absl::OutOfRangeError(absl::StrCat(
        id, ": prompt (", num_prompt, " tokens) + max_tokens (", r.max_tokens,
        ") exceeds the context of ", config_.max_model_len, " tokens"));
  }
  if (!config_.enable_chunked_prefill &&
      num_prompt > config_.max_num_batched_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        id, ": prompt (", num_prompt,
        " tokens) exceeds max_num_batched_tokens (",
        config_.max_num_batched_tokens, ") and chunked prefill is disabled"));
  }
  const int64_t needed =
      (num_prompt + max_tokens - 1 + config_.block_size - 1) /
      config_.block_size;
  if (needed > config_.num_blocks) {
    return absl::ResourceExhaustedError(absl::StrCat(
        id, ": prompt + max_tokens needs ", needed,
        " KV blocks but the whole cache has ", config_.num_blocks));
  }
  return absl::OkStatus();
}

}  // namespace infernum::worker
