// Everything the router needs to serve one model, built from a worker's
// ModelInfo: the tokenizer, the chat template and the limits.
//
// Building a Tokenizer from a 33 MB tokenizer.json takes a while, so
// AssetCache keeps one per distinct (tokenizer.json, tokenizer_config.json,
// chat template, model_type) content: several workers serving one model, or
// a worker re-polled after a restart, share it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/tokenizer.h"
#include "proto/infernum/v1/worker.pb.h"
#include "router/api/chat_template.h"

namespace infernum::router {

// Tokenizer + chat template; immutable and shared.
struct TextAssets {
  std::unique_ptr<models::Tokenizer> tokenizer;
  // Error (kept, reported on chat requests) when the model's template is not
  // one of the supported families; completions still work.
  absl::StatusOr<ChatTemplateConfig> chat_template;
};

// Immutable description of a served model.
struct ModelAssets {
  std::string model_id;
  std::shared_ptr<const TextAssets> text;
  int32_t max_context_length = 0;
  int32_t block_size = 0;
  // Token ids accepted in prompts and stop_token_ids: below both the
  // tokenizer's id space and ModelInfo.vocab_size (when set).
  int32_t vocab_size = 0;
  std::vector<int32_t> eos_token_ids;
  std::vector<int32_t> extra_stop_token_ids;

  const models::Tokenizer& tokenizer() const { return *text->tokenizer; }
};

// Thread-safe cache of TextAssets by content.
class AssetCache {
 public:
  // Builds (or reuses) the assets for `info`. InvalidArgument when the
  // tokenizer files do not load or a limit is missing (max_context_length
  // <= 0, empty model_id).
  absl::StatusOr<std::shared_ptr<const ModelAssets>> Get(
      const v1::ModelInfo& info);

  // Number of distinct tokenizers held (for tests and logs).
  int size() const;

 private:
  mutable std::mutex mu_;
  // Key: hashes and sizes of the text inputs. Entries no worker uses any
  // more are dropped when a new one is added.
  std::map<std::string, std::shared_ptr<const TextAssets>> entries_;
};

}  // namespace infernum::router
