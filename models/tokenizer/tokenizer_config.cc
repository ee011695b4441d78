#include "models/tokenizer/tokenizer_config.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace infernum::models::tokenizer_internal {
namespace {

absl::StatusOr<std::optional<std::string>> TokenContent(const Json& config,
                                                        std::string_view key) {
  const Json* f = FindField(config, key);
  if (f == nullptr || f->is_null()) return std::optional<std::string>();
  if (f->is_string()) return std::optional<std::string>(f->get<std::string>());
  if (f->is_object()) {
    ASSIGN_OR_RETURN(std::string content, GetString(*f, "content", key));
    return std::optional<std::string>(std::move(content));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "tokenizer_config: \"", AV(key), "\" is neither a string nor an object"));
}

absl::StatusOr<std::optional<bool>> OptionalBool(const Json& config,
                                                 std::string_view key) {
  const Json* f = FindField(config, key);
  if (f == nullptr || f->is_null()) return std::optional<bool>();
  if (!f->is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer_config: \"", AV(key), "\" is not a bool"));
  }
  return std::optional<bool>(f->get<bool>());
}

absl::StatusOr<std::string> ChatTemplate(const Json& config) {
  const Json* f = FindField(config, "chat_template");
  if (f == nullptr || f->is_null()) return std::string();
  if (f->is_string()) return f->get<std::string>();
  if (!f->is_array()) {
    return absl::InvalidArgumentError(
        "tokenizer_config: bad \"chat_template\"");
  }
  // [{"name": ..., "template": ...}, ...]: prefer "default", else the first.
  const Json* chosen = nullptr;
  for (const Json& entry : *f) {
    const Json* name = FindField(entry, "name");
    if (chosen == nullptr || (name != nullptr && *name == "default"))
      chosen = &entry;
  }
  if (chosen == nullptr) return std::string();
  return GetString(*chosen, "template", "chat_template entry");
}

}  // namespace

absl::StatusOr<Json> ParseJson(const std::string& text, std::string_view what) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", AV(what), ": ", e.what()));
  }
}

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(const std::string& json) {
  TokenizerConfig c;
  if (json.empty()) return c;
  ASSIGN_OR_RETURN(const Json config, ParseJson(json, "tokenizer_config.json"));
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        "tokenizer_config.json is not a JSON object");
  }
  ASSIGN_OR_RETURN(c.bos_token, TokenContent(config, "bos_token"));
  ASSIGN_OR_RETURN(c.eos_token, TokenContent(config, "eos_token"));
  ASSIGN_OR_RETURN(c.pad_token, TokenContent(config, "pad_token"));
  ASSIGN_OR_RETURN(c.unk_token, TokenContent(config, "unk_token"));
  ASSIGN_OR_RETURN(c.add_bos_token, OptionalBool(config, "add_bos_token"));
  ASSIGN_OR_RETURN(c.add_eos_token, OptionalBool(config, "add_eos_token"));
  if (const Json* cls = FindField(config, "tokenizer_class");
      cls && cls->is_string()) {
    c.tokenizer_class = cls->get<std::string>();
  }
  ASSIGN_OR_RETURN(c.chat_template, ChatTemplate(config));
  ASSIGN_OR_RETURN(c.clean_up_tokenization_spaces,
                   GetBool(config, "clean_up_tokenization_spaces", false,
                           "tokenizer_config"));
  return c;
}

}  // namespace infernum::models::tokenizer_internal
