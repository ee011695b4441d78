#include "worker/server/model_info.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace infernum::worker {
namespace {

namespace fs = std::filesystem;

// Contents of dir/name, or "" when dir is empty or the file is absent.
std::string ReadOptional(const std::string& dir, const std::string& name) {
  if (dir.empty()) return "";
  std::ifstream in(fs::path(dir) / name, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The chat template of a parsed tokenizer_config.json, or "".
std::string TemplateFromTokenizerConfig(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("chat_template")) return "";
  const nlohmann::json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (!t.is_array()) return "";
  std::string first;
  for (const auto& entry : t) {
    if (!entry.is_object() || !entry.contains("template") ||
        !entry["template"].is_string()) {
      continue;
    }
    const std::string text = entry["template"].get<std::string>();
    if (entry.value("name", "") == "default") return text;
    if (first.empty()) first = text;
  }
  return first;
}

absl::StatusOr<std::string> FindChatTemplate(
    const std::string& dir, const std::string& tokenizer_config) {
  if (!tokenizer_config.empty()) {
    nlohmann::json config =
        nlohmann::json::parse(tokenizer_config, nullptr, false);
    if (config.is_discarded()) {
      return absl::InvalidArgumentError(
          absl::StrCat((fs::path(dir) / "tokenizer_config.json").string(),
                       ": invalid JSON"));
    }
    std::string t = TemplateFromTokenizerConfig(config);
    if (!t.empty()) return t;
  }
  std::string jinja = ReadOptional(dir, "chat_template.jinja");
  if (!jinja.empty()) return jinja;
  const std::string json_text = ReadOptional(dir, "chat_template.json");
  if (!json_text.empty()) {
    nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
    if (!j.is_discarded()) return TemplateFromTokenizerConfig(j);
  }
  return std::string();
}

}  // namespace

absl::StatusOr<v1::ModelInfo> BuildModelInfo(const LoadedModel& loaded,
                                             const ModelInfoParams& params) {
  v1::ModelInfo info;
  info.set_model_id(params.served_model_name);
  info.set_max_context_length(params.max_context_length);
  info.set_block_size(params.block_size);
  info.set_max_num_seqs(params.max_num_seqs);
  info.set_worker_id(params.worker_id);
  info.set_vocab_size(loaded.config.vocab_size);
  info.set_model_type(loaded.config.model_type);
  const std::vector<int32_t>& eos = loaded.config.eos_token_ids;
  for (int32_t id : eos) info.add_eos_token_ids(id);
  for (int32_t id : DefaultStopTokenIds(loaded)) {
    if (std::find(eos.begin(), eos.end(), id) == eos.end())
      info.add_extra_stop_token_ids(id);
  }
  const std::string& dir = params.model_dir;
  info.set_tokenizer_json(ReadOptional(dir, "tokenizer.json"));
  const std::string tokenizer_config =
      ReadOptional(dir, "tokenizer_config.json");
  info.set_tokenizer_config_json(tokenizer_config);
  info.set_generation_config_json(ReadOptional(dir, "generation_config.json"));
  auto chat_template = FindChatTemplate(dir, tokenizer_config);
  if (!chat_template.ok()) return chat_template.status();
  info.set_chat_template(*chat_template);
  return info;
}

}  // namespace infernum::worker
