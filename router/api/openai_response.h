// JSON bodies of OpenAI responses, non-streaming and streaming (SSE).
//
//   POST /v1/chat/completions  -> "chat.completion" or, streamed,
//                                 "chat.completion.chunk" events
//   POST /v1/completions       -> "text_completion" (also for chunks)
//
// Pure builders: the caller supplies ids, timestamps and decoded text. Token
// text may contain invalid UTF-8 (a byte-level token in the middle of a
// character): DumpJson replaces such bytes with U+FFFD and never throws; the
// chat logprobs "bytes" field keeps the raw bytes. Non-finite logprobs
// (-inf) are written as -9999.0, as vLLM does, since JSON has no infinity.
//
// Streaming protocol (what the HTTP layer sends, each via SseData()):
//   chat: one chunk with delta {"role":"assistant","content":""}, then chunks
//         with delta {"content":...}, then a chunk with an empty delta and
//         finish_reason; completions: text chunks, the last with
//         finish_reason. With stream_options.include_usage every chunk has
//         "usage": null and a final BuildUsageChunk follows (choices: []).
//   Then SseDone() ("data: [DONE]\n\n").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace infernum::router {

// Insertion-ordered JSON, so objects serialize in OpenAI's field order
// ("id", "object", "created", ...) and completions top_logprobs dicts list
// the most likely token first.
using ResponseJson = nlohmann::ordered_json;

enum class FinishReason { kNone, kStop, kLength, kAbort };

// "stop", "length", "abort"; kNone -> JSON null.
ResponseJson FinishReasonJson(FinishReason reason);

// Fields common to every response object.
struct ResponseMeta {
  std::string id;                  // e.g. MakeResponseId("chatcmpl-", ...).
  int64_t created = 0;             // Unix time, seconds.
  std::string model;               // Served model name.
  std::string system_fingerprint;  // Empty -> null.
};

// prefix + 32 lower-case hex digits of (hi, lo).
std::string MakeResponseId(std::string_view prefix, uint64_t hi, uint64_t lo);

struct TopLogprob {
  std::string token;  // Decoded token text (raw bytes).
  float logprob = 0;
};

// One output position.
struct TokenLogprob {
  std::string token;  // Decoded text of the sampled token (raw bytes).
  float logprob = 0;
  std::vector<TopLogprob> top_logprobs;  // Most likely first.
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  // Prefix-cache hits; adds prompt_tokens_details.cached_tokens when set.
  std::optional<int64_t> cached_tokens;
};

// {"prompt_tokens","completion_tokens","total_tokens"[,"prompt_tokens_details"]}
ResponseJson UsageJson(const Usage& usage);

// Chat logprobs: {"content":[{"token","logprob","bytes":[..],
// "top_logprobs":[{"token","logprob","bytes"}]}]}.
ResponseJson ChatLogprobsJson(const std::vector<TokenLogprob>& tokens);

// Completions logprobs: {"tokens":[..],"token_logprobs":[..],
// "top_logprobs":[{token: logprob, ...}],"text_offset":[..]}. `text_offset`
// is in/out: the offset (in code points, counting each byte that is not a
// UTF-8 continuation byte) of the first token in the choice's text; it is
// advanced past these tokens, so streaming chunks continue the count.
ResponseJson CompletionLogprobsJson(const std::vector<TokenLogprob>& tokens,
                                    int64_t* text_offset);

// ---- Non-streaming ----

struct ChatChoice {
  int index = 0;
  std::string content;
  FinishReason finish_reason = FinishReason::kStop;
  std::optional<std::vector<TokenLogprob>> logprobs;  // Unset -> null.
};

// A "chat.completion" object.
ResponseJson BuildChatCompletion(const ResponseMeta& meta,
                                 const std::vector<ChatChoice>& choices,
                                 const Usage& usage);

struct CompletionChoice {
  int index = 0;
  std::string text;
  FinishReason finish_reason = FinishReason::kStop;
  std::optional<std::vector<TokenLogprob>> logprobs;  // Unset -> null.
  int64_t text_offset = 0;  // Offset of the first logprob token in `text`.
};

// A "text_completion" object.
ResponseJson BuildCompletion(const ResponseMeta& meta,
                             const std::vector<CompletionChoice>& choices,
                             const Usage& usage);

// ---- Streaming ----

struct ChatDelta {
  int index = 0;
  std::optional<std::string> role;     // Only in a choice's first chunk.
  std::optional<std::string> content;  // Absent in the finishing chunk.
  FinishReason finish_reason = FinishReason::kNone;
  std::optional<std::vector<TokenLogprob>> logprobs;
};

// A "chat.completion.chunk" with one choice. `usage_null` adds "usage": null
// (required on every chunk when stream_options.include_usage is set).
ResponseJson BuildChatCompletionChunk(const ResponseMeta& meta,
                                      const ChatDelta& delta, bool usage_null);

struct CompletionDelta {
  int index = 0;
  std::string text;
  FinishReason finish_reason = FinishReason::kNone;
  std::optional<std::vector<TokenLogprob>> logprobs;
};

// A streamed "text_completion" with one choice. `text_offset` is in/out as
// for CompletionLogprobsJson (keep one counter per choice).
ResponseJson BuildCompletionChunk(const ResponseMeta& meta,
                                  const CompletionDelta& delta, bool usage_null,
                                  int64_t* text_offset);

// Final usage chunk: `object` is "chat.completion.chunk" or
// "text_completion"; "choices" is empty.
ResponseJson BuildUsageChunk(const ResponseMeta& meta, std::string_view object,
                             const Usage& usage);

// Compact JSON; invalid UTF-8 replaced by U+FFFD. Never throws.
std::string DumpJson(const ResponseJson& value);

// "data: <compact json>\n\n".
std::string SseData(const ResponseJson& value);

// "data: [DONE]\n\n".
std::string SseDone();

}  // namespace infernum::router
