// Chat templates: renders a list of chat messages into the prompt string a
// model was trained on, without a Jinja engine.
//
// Each supported family is re-implemented natively and tested byte for byte
// against the real Jinja template (rendered by jinja2 at test time, see
// chat_template_test.cc):
//   kLlama2     "<s>[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {asst}
//   </s>" kLlama3
//   "<|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n
//                {content}<|eot_id|>" (Llama-3.0 template; 3.1+'s date
//                preamble is not reproduced)
//   kChatMl     "<|im_start|>{role}\n{content}<|im_end|>\n" (Qwen; with
//                Qwen3's <think> handling when the template mentions <think>)
//   kGemma      "<bos><start_of_turn>user\n{sys}\n\n{user}<end_of_turn>\n",
//                assistant role named "model"
//   kMistral    "<s>[INST] {user} [/INST]{asst}</s>"
//   kDeepSeekV3 "<｜begin▁of▁sentence｜>{sys}<｜User｜>{u}<｜Assistant｜>{a}
//                <｜end▁of▁sentence｜>"
//   kHarmony    gpt-oss "<|start|>{role}<|message|>{content}<|end|>"
//                (simplified: no date line, no tools)
//   kPlain      no template (base models such as stories260K): the message
//                contents joined with "\n", nothing added for the generation
//                prompt; the tokenizer adds BOS as for any completion.
//
// Families that require alternating user/assistant turns (Llama-2, Mistral,
// Gemma) return InvalidArgument on other orders, as their Jinja templates
// raise. Tool calls are not supported.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/api/chat_message.h"

namespace infernum::router {

enum class ChatTemplateFamily {
  kPlain,
  kLlama2,
  kLlama3,
  kChatMl,
  kGemma,
  kMistral,
  kDeepSeekV3,
  kHarmony,
};

// Lower-case name ("plain", "llama2", "llama3", "chatml", "gemma", "mistral",
// "deepseek_v3", "harmony").
std::string_view ChatTemplateFamilyName(ChatTemplateFamily family);

// Picks the family. A non-empty `chat_template` (Jinja text) is recognised by
// its distinctive markers (<|start_header_id|>, <|im_start|>, <start_of_turn>,
// <｜User｜>, <<SYS>>, [INST], <|start|>+<|message|>); an unrecognised
// template is an Unimplemented error unless `hint` names a family. With an
// empty template, `hint` (a family name or an HF model_type: "mistral",
// "gpt_oss", "qwen3", "gemma3", "deepseek_v3", "llama2", ...) decides;
// anything else, including "llama", is kPlain.
absl::StatusOr<ChatTemplateFamily> DetectChatTemplateFamily(
    std::string_view chat_template, std::string_view hint);

// Everything the renderer needs.
struct ChatTemplateConfig {
  ChatTemplateFamily family = ChatTemplateFamily::kPlain;
  std::string bos_token;  // Literal text, e.g. "<s>"; may be empty.
  std::string eos_token;
  // ChatML: apply Qwen3's reasoning (<think>) rules to assistant turns.
  bool chatml_reasoning = false;
  // Llama-3.0's template always appends the assistant header, even when
  // add_generation_prompt is false (it never reads that variable).
  bool always_add_generation_prompt = false;
};

// Builds the config from tokenizer_config.json text. `chat_template` (e.g.
// from a chat_template.jinja file or ModelInfo) overrides the config's own
// "chat_template" when non-empty. bos/eos accept both the plain string and
// the {"content": ...} AddedToken object forms.
absl::StatusOr<ChatTemplateConfig> ChatTemplateConfigFromTokenizerConfig(
    std::string_view tokenizer_config_json, std::string_view chat_template,
    std::string_view hint);

// Result of rendering.
struct RenderedPrompt {
  std::string text;
  // True when `text` starts with the BOS token text. The caller must then
  // tokenize with add_special_tokens=false (and parse special tokens in the
  // text) so BOS is not doubled; otherwise with the tokenizer's default.
  bool contains_bos = false;
};

// Renders `messages` (non-empty; roles system/user/assistant).
absl::StatusOr<RenderedPrompt> RenderChatTemplate(
    const ChatTemplateConfig& config, const std::vector<ChatMessage>& messages,
    bool add_generation_prompt);

}  // namespace infernum::router
