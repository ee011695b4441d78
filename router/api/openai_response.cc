#include "router/api/openai_response.h"

#include <cmath>
#include <cstdio>

namespace infernum::router {
namespace {

using json = ResponseJson;

constexpr double kMinLogprob = -9999.0;

double SafeLogprob(float v) {
  return std::isfinite(v) ? static_cast<double>(v) : kMinLogprob;
}

json Bytes(const std::string& s) {
  json arr = json::array();
  for (unsigned char c : s) arr.push_back(static_cast<int>(c));
  return arr;
}

int64_t CodePoints(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

json Header(const ResponseMeta& meta, std::string_view object) {
  json j = {{"id", meta.id},
            {"object", std::string(object)},
            {"created", meta.created},
            {"model", meta.model},
            {"system_fingerprint", nullptr}};
  if (!meta.system_fingerprint.empty()) {
    j["system_fingerprint"] = meta.system_fingerprint;
  }
  return j;
}

json OptionalChatLogprobs(const std::optional<std::vector<TokenLogprob>>& lp) {
  return lp.has_value() ? ChatLogprobsJson(*lp) : json(nullptr);
}

}  // namespace

json FinishReasonJson(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kNone:
      break;
  }
  return nullptr;
}

std::string MakeResponseId(std::string_view prefix, uint64_t hi, uint64_t lo) {
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%016llx%016llx",
                static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return std::string(prefix) + hex;
}

json UsageJson(const Usage& usage) {
  json j = {{"prompt_tokens", usage.prompt_tokens},
            {"completion_tokens", usage.completion_tokens},
            {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
  if (usage.cached_tokens.has_value()) {
    j["prompt_tokens_details"] = {{"cached_tokens", *usage.cached_tokens}};
  }
  return j;
}

json ChatLogprobsJson(const std::vector<TokenLogprob>& tokens) {
  json content = json::array();
  for (const TokenLogprob& t : tokens) {
    json top = json::array();
    for (const TopLogprob& alt : t.top_logprobs) {
      top.push_back({{"token", alt.token},
                     {"logprob", SafeLogprob(alt.logprob)},
                     {"bytes", Bytes(alt.token)}});
    }
    content.push_back({{"token", t.token},
                       {"logprob", SafeLogprob(t.logprob)},
                       {"bytes", Bytes(t.token)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}};
}

json CompletionLogprobsJson(const std::vector<TokenLogprob>& tokens,
                            int64_t* text_offset) {
  json out = {{"tokens", json::array()},
              {"token_logprobs", json::array()},
              {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (const TokenLogprob& t : tokens) {
    out["tokens"].push_back(t.token);
    out["token_logprobs"].push_back(SafeLogprob(t.logprob));
    json top = json::object();
    for (const TopLogprob& alt : t.top_logprobs) {
      // First (most likely) wins if two alternatives decode to the same text.
      if (!top.contains(alt.token)) top[alt.token] = SafeLogprob(alt.logprob);
    }
    out["top_logprobs"].push_back(std::move(top));
    out["text_offset"].push_back(*text_offset);
    *text_offset += CodePoints(t.token);
  }
  return out;
}

json BuildChatCompletion(const ResponseMeta& meta,
                         const std::vector<ChatChoice>& choices,
                         const Usage& usage) {
  json j = Header(meta, "chat.completion");
  json arr = json::array();
  for (const ChatChoice& c : choices) {
    arr.push_back({{"index", c.index},
                   {"message", {{"role", "assistant"}, {"content", c.content}}},
                   {"logprobs", OptionalChatLogprobs(c.logprobs)},
                   {"finish_reason", FinishReasonJson(c.finish_reason)}});
  }
  j["choices"] = std::move(arr);
  j["usage"] = UsageJson(usage);
  return j;
}

json BuildCompletion(const ResponseMeta& meta,
                     const std::vector<CompletionChoice>& choices,
                     const Usage& usage) {
  json j = Header(meta, "text_completion");
  json arr = json::array();
  for (const CompletionChoice& c : choices) {
    int64_t offset = c.text_offset;
    arr.push_back(
        {{"index", c.index},
         {"text", c.text},
         {"logprobs", c.logprobs.has_value()
                          ? CompletionLogprobsJson(*c.logprobs, &offset)
                          : json(nullptr)},
         {"finish_reason", FinishReasonJson(c.finish_reason)}});
  }
  j["choices"] = std::move(arr);
  j["usage"] = UsageJson(usage);
  return j;
}

json BuildChatCompletionChunk(const ResponseMeta& meta, const ChatDelta& delta,
                              bool usage_null) {
  json j = Header(meta, "chat.completion.chunk");
  json d = json::object();
  if (delta.role.has_value()) d["role"] = *delta.role;
  if (delta.content.has_value()) d["content"] = *delta.content;
  j["choices"] =
      json::array({{{"index", delta.index},
                    {"delta", std::move(d)},
                    {"logprobs", OptionalChatLogprobs(delta.logprobs)},
                    {"finish_reason", FinishReasonJson(delta.finish_reason)}}});
  if (usage_null) j["usage"] = nullptr;
  return j;
}

json BuildCompletionChunk(const ResponseMeta& meta,
                          const CompletionDelta& delta, bool usage_null,
                          int64_t* text_offset) {
  json j = Header(meta, "text_completion");
  json logprobs = nullptr;
  if (delta.logprobs.has_value()) {
    logprobs = CompletionLogprobsJson(*delta.logprobs, text_offset);
  }
  j["choices"] =
      json::array({{{"index", delta.index},
                    {"text", delta.text},
                    {"logprobs", std::move(logprobs)},
                    {"finish_reason", FinishReasonJson(delta.finish_reason)}}});
  if (usage_null) j["usage"] = nullptr;
  return j;
}

json BuildUsageChunk(const ResponseMeta& meta, std::string_view object,
                     const Usage& usage) {
  json j = Header(meta, object);
  j["choices"] = json::array();
  j["usage"] = UsageJson(usage);
  return j;
}

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string SseData(const json& value) {
  return "data: " + DumpJson(value) + "\n\n";
}

std::string SseDone() { return "data: [DONE]\n\n"; }

}  // namespace infernum::router
