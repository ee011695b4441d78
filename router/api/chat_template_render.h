// Internal to chat_template: one native renderer per family, each a
// line-by-line transcription of the family's Jinja template (see
// chat_template.h for the formats). Inputs are non-empty; the add-generation-
// prompt decision is made by the caller. Errors mirror the templates'
// raise_exception calls (InvalidArgument).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/api/chat_message.h"
#include "router/api/chat_template.h"

namespace infernum::router::internal {

// Python str.strip() with no argument: removes leading and trailing Unicode
// whitespace (str.isspace) from UTF-8 text. Jinja's `trim` filter is the same.
std::string_view PyStrip(std::string_view s);

absl::StatusOr<std::string> RenderPlain(const std::vector<ChatMessage>& m);
absl::StatusOr<std::string> RenderLlama2(const ChatTemplateConfig& c,
                                         const std::vector<ChatMessage>& m);
absl::StatusOr<std::string> RenderLlama3(const ChatTemplateConfig& c,
                                         const std::vector<ChatMessage>& m,
                                         bool gen);
absl::StatusOr<std::string> RenderChatMl(const ChatTemplateConfig& c,
                                         const std::vector<ChatMessage>& m,
                                         bool gen);
absl::StatusOr<std::string> RenderGemma(const ChatTemplateConfig& c,
                                        const std::vector<ChatMessage>& m,
                                        bool gen);
absl::StatusOr<std::string> RenderMistral(const ChatTemplateConfig& c,
                                          const std::vector<ChatMessage>& m);
absl::StatusOr<std::string> RenderDeepSeekV3(const ChatTemplateConfig& c,
                                             const std::vector<ChatMessage>& m,
                                             bool gen);
absl::StatusOr<std::string> RenderHarmony(const std::vector<ChatMessage>& m,
                                          bool gen);

}  // namespace infernum::router::internal
