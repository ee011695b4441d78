// Family detection, configuration and dispatch. The per-family renderers are
// in chat_template_render.cc.
#include "router/api/chat_template.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "router/api/chat_template_render.h"
#include "router/api/errors.h"
#include "router/api/json_fields.h"

namespace infernum::router {
namespace {

using nlohmann::json;

absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

struct Marker {
  std::string_view text;
  ChatTemplateFamily family;
};

// Checked in order; the first marker found in the template decides.
constexpr Marker kMarkers[] = {
    {"<|start_header_id|>", ChatTemplateFamily::kLlama3},
    {"<|im_start|>", ChatTemplateFamily::kChatMl},
    {"<start_of_turn>", ChatTemplateFamily::kGemma},
    {"<｜User｜>", ChatTemplateFamily::kDeepSeekV3},
    {"<|message|>", ChatTemplateFamily::kHarmony},
    {"<<SYS>>", ChatTemplateFamily::kLlama2},
    {"[INST]", ChatTemplateFamily::kMistral},
};

// Family named by a hint (family name or HF model_type), if any.
std::optional<ChatTemplateFamily> FamilyFromHint(std::string_view hint) {
  const std::string h = absl::AsciiStrToLower(AV(hint));
  auto starts = [&](absl::string_view p) { return absl::StartsWith(h, p); };
  if (h == "plain") return ChatTemplateFamily::kPlain;
  if (h == "llama2" || h == "llama-2" || h == "llama2_chat") {
    return ChatTemplateFamily::kLlama2;
  }
  if (h == "llama3" || h == "llama-3") return ChatTemplateFamily::kLlama3;
  if (h == "chatml" || starts("qwen")) return ChatTemplateFamily::kChatMl;
  if (starts("gemma")) return ChatTemplateFamily::kGemma;
  if (starts("mistral")) return ChatTemplateFamily::kMistral;
  if (starts("deepseek")) return ChatTemplateFamily::kDeepSeekV3;
  if (h == "harmony" || h == "gpt_oss" || h == "gptoss" || h == "gpt-oss") {
    return ChatTemplateFamily::kHarmony;
  }
  return std::nullopt;
}

// Special-token text from a string or {"content": "..."} object.
std::string TokenText(const json& config, std::string_view key) {
  const json* v = FindField(config, key);
  if (v == nullptr) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) {
    const json* content = FindField(*v, "content");
    if (content != nullptr && content->is_string()) {
      return content->get<std::string>();
    }
  }
  return "";
}

// The config's template: a string, or a list of {"name","template"} where
// "default" is preferred.
std::string TemplateText(const json& config) {
  const json* t = FindField(config, "chat_template");
  if (t == nullptr) return "";
  if (t->is_string()) return t->get<std::string>();
  if (!t->is_array()) return "";
  std::string first;
  for (const json& entry : *t) {
    std::string name, text;
    if (!ReadString(entry, "name", &name).ok() ||
        !ReadString(entry, "template", &text).ok()) {
      continue;
    }
    if (name == "default") return text;
    if (first.empty()) first = text;
  }
  return first;
}

}  // namespace

std::string_view ChatTemplateFamilyName(ChatTemplateFamily family) {
  switch (family) {
    case ChatTemplateFamily::kPlain:
      return "plain";
    case ChatTemplateFamily::kLlama2:
      return "llama2";
    case ChatTemplateFamily::kLlama3:
      return "llama3";
    case ChatTemplateFamily::kChatMl:
      return "chatml";
    case ChatTemplateFamily::kGemma:
      return "gemma";
    case ChatTemplateFamily::kMistral:
      return "mistral";
    case ChatTemplateFamily::kDeepSeekV3:
      return "deepseek_v3";
    case ChatTemplateFamily::kHarmony:
      return "harmony";
  }
  return "unknown";
}

absl::StatusOr<ChatTemplateFamily> DetectChatTemplateFamily(
    std::string_view chat_template, std::string_view hint) {
  const std::optional<ChatTemplateFamily> hinted = FamilyFromHint(hint);
  if (chat_template.empty()) {
    return hinted.value_or(ChatTemplateFamily::kPlain);
  }
  for (const Marker& m : kMarkers) {
    if (absl::StrContains(AV(chat_template), AV(m.text))) return m.family;
  }
  if (hinted.has_value()) return *hinted;
  return absl::UnimplementedError(absl::StrCat(
      "unrecognised chat template (no known family markers) and no family "
      "hint; hint was '",
      AV(hint), "'"));
}

absl::StatusOr<ChatTemplateConfig> ChatTemplateConfigFromTokenizerConfig(
    std::string_view tokenizer_config_json, std::string_view chat_template,
    std::string_view hint) {
  json config;
  absl::Status parsed = ParseJsonObject(tokenizer_config_json, &config);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer_config.json: ", parsed.message()));
  }
  const std::string tpl =
      chat_template.empty() ? TemplateText(config) : std::string(chat_template);
  ChatTemplateConfig out;
  ASSIGN_OR_RETURN(out.family, DetectChatTemplateFamily(tpl, hint));
  out.bos_token = TokenText(config, "bos_token");
  out.eos_token = TokenText(config, "eos_token");
  const absl::string_view t = AV(tpl);
  out.chatml_reasoning =
      out.family == ChatTemplateFamily::kChatMl &&
      (absl::StrContains(t, "<think>") ||
       (tpl.empty() &&
        absl::StartsWith(absl::AsciiStrToLower(AV(hint)), "qwen3")));
  out.always_add_generation_prompt =
      out.family == ChatTemplateFamily::kLlama3 && !tpl.empty() &&
      !absl::StrContains(t, "add_generation_prompt");
  return out;
}

absl::StatusOr<RenderedPrompt> RenderChatTemplate(
    const ChatTemplateConfig& config, const std::vector<ChatMessage>& messages,
    bool add_generation_prompt) {
  if (messages.empty()) {
    return InvalidParamError("messages", "'messages' must be non-empty");
  }
  const bool gen = add_generation_prompt || config.always_add_generation_prompt;
  absl::StatusOr<std::string> text;
  switch (config.family) {
    case ChatTemplateFamily::kPlain:
      text = internal::RenderPlain(messages);
      break;
    case ChatTemplateFamily::kLlama2:
      text = internal::RenderLlama2(config, messages);
      break;
    case ChatTemplateFamily::kLlama3:
      text = internal::RenderLlama3(config, messages, gen);
      break;
    case ChatTemplateFamily::kChatMl:
      text = internal::RenderChatMl(config, messages, gen);
      break;
    case ChatTemplateFamily::kGemma:
      text = internal::RenderGemma(config, messages, gen);
      break;
    case ChatTemplateFamily::kMistral:
      text = internal::RenderMistral(config, messages);
      break;
    case ChatTemplateFamily::kDeepSeekV3:
      text = internal::RenderDeepSeekV3(config, messages, gen);
      break;
    case ChatTemplateFamily::kHarmony:
      text = internal::RenderHarmony(messages, gen);
      break;
  }
  RETURN_IF_ERROR(text.status());
  RenderedPrompt out;
  out.text = *std::move(text);
  out.contains_bos =
      !config.bos_token.empty() && absl::StartsWith(out.text, config.bos_token);
  return out;
}

}  // namespace infernum::router
