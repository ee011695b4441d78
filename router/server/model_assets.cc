#include "router/server/model_assets.h"

#include <algorithm>
#include <functional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace infernum::router {
namespace {

std::string ContentKey(const v1::ModelInfo& info) {
  std::string key;
  for (std::string_view part : {std::string_view(info.tokenizer_json()),
                                std::string_view(info.tokenizer_config_json()),
                                std::string_view(info.chat_template()),
                                std::string_view(info.model_type())}) {
    absl::StrAppend(&key, std::hash<std::string_view>()(part), "/", part.size(),
                    ";");
  }
  return key;
}

absl::StatusOr<std::shared_ptr<const TextAssets>> BuildText(
    const v1::ModelInfo& info) {
  auto text = std::make_shared<TextAssets>();
  auto tokenizer = models::Tokenizer::FromJson(info.tokenizer_json(),
                                               info.tokenizer_config_json());
  if (!tokenizer.ok()) {
    return Annotate(tokenizer.status(),
                    absl::StrCat("tokenizer of model ", info.model_id()));
  }
  text->tokenizer = std::move(*tokenizer);
  text->chat_template = ChatTemplateConfigFromTokenizerConfig(
      info.tokenizer_config_json(), info.chat_template(), info.model_type());
  return std::shared_ptr<const TextAssets>(std::move(text));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ModelAssets>> AssetCache::Get(
    const v1::ModelInfo& info) {
  if (info.model_id().empty()) {
    return absl::InvalidArgumentError("ModelInfo has an empty model_id");
  }
  if (info.max_context_length() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ModelInfo of ", info.model_id(), " has no max_context_length"));
  }
  const std::string key = ContentKey(info);
  std::shared_ptr<const TextAssets> text;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) text = it->second;
  }
  if (text == nullptr) {  // Build outside the lock: it can take seconds.
    ASSIGN_OR_RETURN(text, BuildText(info));
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.use_count() == 1 ? entries_.erase(it) : std::next(it);
    }
    entries_[key] = text;
  }
  auto assets = std::make_shared<ModelAssets>();
  assets->model_id = info.model_id();
  assets->text = text;
  assets->max_context_length = info.max_context_length();
  assets->block_size = info.block_size();
  assets->vocab_size = text->tokenizer->vocab_size();
  if (info.vocab_size() > 0) {
    assets->vocab_size = std::min(assets->vocab_size, info.vocab_size());
  }
  assets->eos_token_ids.assign(info.eos_token_ids().begin(),
                               info.eos_token_ids().end());
  assets->extra_stop_token_ids.assign(info.extra_stop_token_ids().begin(),
                                      info.extra_stop_token_ids().end());
  return std::shared_ptr<const ModelAssets>(std::move(assets));
}

int AssetCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(entries_.size());
}

}  // namespace infernum::router
