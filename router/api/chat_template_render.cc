#include "router/api/chat_template_render.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace infernum::router::internal {
namespace {

using Messages = std::vector<ChatMessage>;

// Decodes the UTF-8 code point starting at s[i]; sets *len. Invalid -> -1.
int32_t DecodeAt(std::string_view s, size_t i, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int n = b0 < 0x80         ? 1
          : (b0 >> 5) == 6  ? 2
          : (b0 >> 4) == 14 ? 3
          : (b0 >> 3) == 30 ? 4
                            : 0;
  if (n == 0 || i + n > s.size()) return -1;
  int32_t cp = n == 1 ? b0 : b0 & (0x7F >> n);
  for (int k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  *len = n;
  return cp;
}

bool IsPySpace(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 ||
         c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string_view LStripChar(std::string_view s, char c) {
  while (!s.empty() && s.front() == c) s.remove_prefix(1);
  return s;
}
std::string_view RStripChar(std::string_view s, char c) {
  while (!s.empty() && s.back() == c) s.remove_suffix(1);
  return s;
}

absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

std::string JoinViews(const std::vector<std::string_view>& parts,
                      std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(sep);
    out.append(parts[i]);
  }
  return out;
}

// The loop messages after an optional leading system message.
struct SplitSystem {
  std::optional<std::string_view> system;
  std::vector<const ChatMessage*> rest;
};

SplitSystem SplitLeadingSystem(const Messages& m) {
  SplitSystem out;
  size_t start = 0;
  if (m[0].role == "system") {
    out.system = m[0].content;
    start = 1;
  }
  for (size_t i = start; i < m.size(); ++i) out.rest.push_back(&m[i]);
  return out;
}

// Llama-2 / Mistral / Gemma: user at even positions, anything else at odd.
absl::Status CheckAlternation(const std::vector<const ChatMessage*>& loop) {
  for (size_t i = 0; i < loop.size(); ++i) {
    if ((loop[i]->role == "user") != (i % 2 == 0)) {
      return absl::InvalidArgumentError(
          "Conversation roles must alternate "
          "user/assistant/user/assistant/...");
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view PyStrip(std::string_view s) {
  size_t len = 0;
  while (!s.empty()) {
    const int32_t cp = DecodeAt(s, 0, &len);
    if (cp < 0 || !IsPySpace(cp)) break;
    s.remove_prefix(len);
  }
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && s.size() - start < 4 &&
           (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) {
      --start;
    }
    const int32_t cp = DecodeAt(s, start, &len);
    if (cp < 0 || start + len != s.size() || !IsPySpace(cp)) break;
    s.remove_suffix(len);
  }
  return s;
}

absl::StatusOr<std::string> RenderPlain(const Messages& m) {
  return absl::StrJoin(m, "\n", [](std::string* out, const ChatMessage& msg) {
    out->append(msg.content);
  });
}

absl::StatusOr<std::string> RenderLlama2(const ChatTemplateConfig& c,
                                         const Messages& m) {
  const SplitSystem split = SplitLeadingSystem(m);
  if (absl::Status st = CheckAlternation(split.rest); !st.ok()) return st;
  std::string out;
  for (size_t i = 0; i < split.rest.size(); ++i) {
    const ChatMessage& msg = *split.rest[i];
    std::string content = msg.content;
    if (i == 0 && split.system.has_value()) {
      content = absl::StrCat("<<SYS>>\n", AV(*split.system), "\n<</SYS>>\n\n",
                             msg.content);
    }
    if (msg.role == "user") {
      absl::StrAppend(&out, c.bos_token, "[INST] ", AV(PyStrip(content)),
                      " [/INST]");
    } else if (msg.role == "assistant") {
      absl::StrAppend(&out, " ", AV(PyStrip(content)), " ", c.eos_token);
    }
  }
  return out;
}

absl::StatusOr<std::string> RenderLlama3(const ChatTemplateConfig& c,
                                         const Messages& m, bool gen) {
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    if (i == 0) out += c.bos_token;
    absl::StrAppend(&out, "<|start_header_id|>", m[i].role,
                    "<|end_header_id|>\n\n", AV(PyStrip(m[i].content)),
                    "<|eot_id|>");
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

namespace {

// Qwen3: index of the last real user query (not a wrapped tool response).
size_t LastQueryIndex(const Messages& m) {
  for (size_t i = m.size(); i-- > 0;) {
    const std::string& s = m[i].content;
    const bool tool_response = absl::StartsWith(s, "<tool_response>") &&
                               absl::EndsWith(s, "</tool_response>");
    if (m[i].role == "user" && !tool_response) return i;
  }
  return m.size() - 1;
}

void AppendChatMlAssistant(const ChatTemplateConfig& c, const Messages& m,
                           size_t i, size_t last_query, std::string* out) {
  std::string_view content = m[i].content;
  std::string_view reasoning;
  const size_t close = content.find("</think>");
  if (c.chatml_reasoning && close != std::string_view::npos) {
    const std::string_view full = m[i].content;
    content = LStripChar(full.substr(full.rfind("</think>") + 8), '\n');
    reasoning = RStripChar(full.substr(0, close), '\n');
    const size_t open = reasoning.rfind("<think>");
    if (open != std::string_view::npos) reasoning.remove_prefix(open + 7);
    reasoning = LStripChar(reasoning, '\n');
  }
  const bool think_block = c.chatml_reasoning && i > last_query &&
                           (i + 1 == m.size() || !reasoning.empty());
  if (think_block) {
    absl::StrAppend(out, "<|im_start|>assistant\n<think>\n",
                    AV(RStripChar(LStripChar(reasoning, '\n'), '\n')),
                    "\n</think>\n\n", AV(LStripChar(content, '\n')));
  } else {
    absl::StrAppend(out, "<|im_start|>assistant\n", AV(content));
  }
  *out += "<|im_end|>\n";
}

}  // namespace

absl::StatusOr<std::string> RenderChatMl(const ChatTemplateConfig& c,
                                         const Messages& m, bool gen) {
  std::string out;
  const size_t last_query = LastQueryIndex(m);
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i].role == "assistant") {
      AppendChatMlAssistant(c, m, i, last_query, &out);
    } else {
      absl::StrAppend(&out, "<|im_start|>", m[i].role, "\n", m[i].content,
                      "<|im_end|>\n");
    }
  }
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

absl::StatusOr<std::string> RenderGemma(const ChatTemplateConfig& c,
                                        const Messages& m, bool gen) {
  const SplitSystem split = SplitLeadingSystem(m);
  if (absl::Status st = CheckAlternation(split.rest); !st.ok()) return st;
  std::string out = c.bos_token;
  for (size_t i = 0; i < split.rest.size(); ++i) {
    const ChatMessage& msg = *split.rest[i];
    const std::string_view role =
        msg.role == "assistant" ? std::string_view("model") : msg.role;
    absl::StrAppend(&out, "<start_of_turn>", AV(role), "\n");
    if (i == 0 && split.system.has_value()) {
      absl::StrAppend(&out, AV(*split.system), "\n\n");
    }
    absl::StrAppend(&out, AV(PyStrip(msg.content)), "<end_of_turn>\n");
  }
  if (gen) out += "<start_of_turn>model\n";
  return out;
}

absl::StatusOr<std::string> RenderMistral(const ChatTemplateConfig& c,
                                          const Messages& m) {
  const SplitSystem split = SplitLeadingSystem(m);
  if (absl::Status st = CheckAlternation(split.rest); !st.ok()) return st;
  std::string out = c.bos_token;
  for (size_t i = 0; i < split.rest.size(); ++i) {
    const ChatMessage& msg = *split.rest[i];
    if (msg.role == "user") {
      out += "[INST] ";
      if (i == 0 && split.system.has_value()) {
        absl::StrAppend(&out, AV(*split.system), "\n\n");
      }
      absl::StrAppend(&out, msg.content, " [/INST]");
    } else if (msg.role == "assistant") {
      absl::StrAppend(&out, msg.content, c.eos_token);
    } else {
      return absl::InvalidArgumentError(
          "Only user and assistant roles are supported after an optional "
          "first system message");
    }
  }
  return out;
}

absl::StatusOr<std::string> RenderDeepSeekV3(const ChatTemplateConfig& c,
                                             const Messages& m, bool gen) {
  std::vector<std::string_view> system;
  for (const ChatMessage& msg : m) {
    if (msg.role == "system") system.push_back(msg.content);
  }
  std::string out = absl::StrCat(c.bos_token, JoinViews(system, "\n\n"));
  for (const ChatMessage& msg : m) {
    if (msg.role == "user") {
      absl::StrAppend(&out, "<｜User｜>", msg.content);
    } else if (msg.role == "assistant") {
      absl::StrAppend(&out, "<｜Assistant｜>", msg.content,
                      "<｜end▁of▁sentence｜>");
    }
  }
  if (gen) out += "<｜Assistant｜>";
  return out;
}

absl::StatusOr<std::string> RenderHarmony(const Messages& m, bool gen) {
  std::string out =
      "<|start|>system<|message|>You are ChatGPT, a large language model "
      "trained by OpenAI.\nKnowledge cutoff: 2024-06\n\nReasoning: medium\n\n"
      "# Valid channels: analysis, commentary, final. Channel must be "
      "included for every message.<|end|>";
  std::vector<std::string_view> system;
  for (const ChatMessage& msg : m) {
    if (msg.role == "system") system.push_back(msg.content);
  }
  if (!system.empty()) {
    absl::StrAppend(&out, "<|start|>developer<|message|># Instructions\n\n",
                    JoinViews(system, "\n\n"), "<|end|>");
  }
  for (const ChatMessage& msg : m) {
    if (msg.role == "user") {
      absl::StrAppend(&out, "<|start|>user<|message|>", msg.content, "<|end|>");
    } else if (msg.role == "assistant") {
      absl::StrAppend(&out, "<|start|>assistant<|channel|>final<|message|>",
                      msg.content, "<|end|>");
    }
  }
  if (gen) out += "<|start|>assistant";
  return out;
}

}  // namespace infernum::router::internal
