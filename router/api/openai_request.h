// Parsing and validation of OpenAI request bodies:
//   POST /v1/chat/completions -> ChatCompletionRequest
//   POST /v1/completions      -> CompletionRequest
//
// Pure functions: no I/O, no model knowledge (context length and vocab checks
// happen later, once the model is known). They never throw. Every failure is
// an absl::Status built with InvalidParamError (see errors.h) naming the
// offending `param`, e.g. "messages[2].content" or "top_p".
//
// Unknown fields are ignored, as are known-but-unsupported OpenAI fields that
// do not change the output format (tools, tool_choice, response_format,
// parallel_tool_calls, logit_bias, suffix, best_of, metadata, store...).
// JSON null is treated as "absent" for every field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/api/chat_message.h"

namespace infernum::router {

// Limits enforced by the parser.
inline constexpr int kMaxStopStrings = 16;
inline constexpr int kMaxN = 16;
inline constexpr int kMaxTopLogprobsChat = 20;
inline constexpr int kMaxLogprobsCompletion = 5;
inline constexpr int kMaxPrompts = 64;  // Completions batch size.

// Fields shared by both endpoints, after validation and defaulting.
struct RequestOptions {
  std::string model;                    // Required, non-empty.
  std::optional<int64_t> max_tokens;    // max_completion_tokens wins; >= 1.
  int32_t min_tokens = 0;               // vLLM extension.
  double temperature = 1.0;             // [0, 2]
  double top_p = 1.0;                   // (0, 1]
  int32_t top_k = 0;                    // 0 = disabled (-1 is normalized to 0).
  double min_p = 0.0;                   // [0, 1]
  double presence_penalty = 0.0;        // [-2, 2]
  double frequency_penalty = 0.0;       // [-2, 2]
  double repetition_penalty = 1.0;      // > 0 (vLLM extension)
  std::optional<int64_t> seed;          // Any int64.
  std::vector<std::string> stop;        // <= kMaxStopStrings, each non-empty.
  std::vector<int32_t> stop_token_ids;  // vLLM extension, ids >= 0.
  int32_t n = 1;                        // [1, kMaxN]
  bool logprobs = false;                // Return per-token logprobs.
  int32_t top_logprobs = 0;             // Alternatives per token.
  bool stream = false;
  bool include_usage = false;       // stream_options.include_usage
  bool ignore_eos = false;          // vLLM extension.
  bool skip_special_tokens = true;  // vLLM extension.
  std::string user;
};

struct ChatCompletionRequest {
  RequestOptions options;
  std::vector<ChatMessage> messages;  // Non-empty.
  bool add_generation_prompt = true;  // vLLM extension.
};

// One completions prompt: text, or pre-tokenized ids.
struct CompletionPrompt {
  bool is_token_ids = false;
  std::string text;                // When !is_token_ids (may be empty).
  std::vector<int32_t> token_ids;  // When is_token_ids (non-empty, >= 0).
};

struct CompletionRequest {
  RequestOptions options;
  std::vector<CompletionPrompt> prompts;  // 1..kMaxPrompts
  bool echo = false;                      // Prepend the prompt to the output.
};

// Chat: `logprobs` is a bool and `top_logprobs` an int in [0, 20] that needs
// logprobs=true. Roles: system, developer (-> system), user, assistant; the
// "tool"/"function" roles are rejected as unsupported.
absl::StatusOr<ChatCompletionRequest> ParseChatCompletionRequest(
    std::string_view body);

// Completions: `prompt` is a string, list of strings, list of token ids or
// list of lists of token ids; `logprobs` is an int in [0, 5] (sets
// options.logprobs = true and options.top_logprobs = value).
absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body);

}  // namespace infernum::router
