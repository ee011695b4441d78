// tokenizer_config.json: the transformers-level settings the tokenizer needs
// (special token strings, add_bos/eos_token, chat template, cleanup flag).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "models/tokenizer/json_util.h"

namespace infernum::models::tokenizer_internal {

struct TokenizerConfig {
  // Token contents; the config may give a string or an AddedToken object
  // ({"__type": "AddedToken", "content": ...}); null or absent -> nullopt.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> pad_token;
  std::optional<std::string> unk_token;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::string tokenizer_class;
  std::string chat_template;  // "default" entry when the config has a list
  bool clean_up_tokenization_spaces = false;
};

// Parses tokenizer_config.json text ("" gives the defaults).
absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(const std::string& json);

// Parses JSON text, turning nlohmann's parse exceptions into an error that
// names `what`.
absl::StatusOr<Json> ParseJson(const std::string& text, std::string_view what);

}  // namespace infernum::models::tokenizer_internal
