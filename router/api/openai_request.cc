#include "router/api/openai_request.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "router/api/errors.h"
#include "router/api/json_fields.h"

namespace infernum::router {
namespace {

using nlohmann::json;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

std::string Indexed(std::string_view base, size_t i) {
  return absl::StrCat(absl::string_view(base.data(), base.size()), "[", i, "]");
}

absl::Status ParseModel(const json& body, RequestOptions* o) {
  const json* model = FindField(body, "model");
  if (model == nullptr)
    return InvalidParamError("model", "'model' is required");
  RETURN_IF_ERROR(ReadString(body, "model", &o->model));
  if (o->model.empty()) {
    return InvalidParamError("model", "'model' must not be empty");
  }
  return absl::OkStatus();
}

absl::Status ParseStop(const json& body, RequestOptions* o) {
  const json* stop = FindField(body, "stop");
  if (stop == nullptr) return absl::OkStatus();
  if (stop->is_string()) {
    if (stop->get_ref<const std::string&>().empty()) {
      return InvalidParamError("stop", "'stop' must not be an empty string");
    }
    o->stop.push_back(stop->get<std::string>());
    return absl::OkStatus();
  }
  if (!stop->is_array()) {
    return InvalidParamError("stop",
                             "'stop' must be a string or a list of strings");
  }
  if (stop->size() > kMaxStopStrings) {
    return InvalidParamError(
        "stop", absl::StrCat("'stop' allows at most ", kMaxStopStrings,
                             " strings, got ", stop->size()));
  }
  for (size_t i = 0; i < stop->size(); ++i) {
    const json& s = (*stop)[i];
    if (!s.is_string() || s.get_ref<const std::string&>().empty()) {
      return InvalidParamError(Indexed("stop", i),
                               "each stop sequence must be a non-empty string");
    }
    o->stop.push_back(s.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParseStopTokenIds(const json& body, RequestOptions* o) {
  const json* ids = FindField(body, "stop_token_ids");
  if (ids == nullptr) return absl::OkStatus();
  if (!ids->is_array()) {
    return InvalidParamError("stop_token_ids",
                             "'stop_token_ids' must be a list of integers");
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    int64_t id = 0;
    RETURN_IF_ERROR(JsonToInt((*ids)[i], Indexed("stop_token_ids", i),
                              {0, kInt32Max}, &id));
    o->stop_token_ids.push_back(static_cast<int32_t>(id));
  }
  return absl::OkStatus();
}

absl::Status ParseStreaming(const json& body, RequestOptions* o) {
  RETURN_IF_ERROR(ReadBool(body, "stream", &o->stream));
  const json* so = FindField(body, "stream_options");
  if (so == nullptr) return absl::OkStatus();
  if (!so->is_object()) {
    return InvalidParamError("stream_options",
                             "'stream_options' must be an object");
  }
  if (!o->stream) {
    return InvalidParamError(
        "stream_options", "'stream_options' is only allowed when stream=true");
  }
  return ReadBool(*so, "include_usage", &o->include_usage,
                  "stream_options.include_usage");
}

absl::Status ParseSampling(const json& body, RequestOptions* o) {
  RETURN_IF_ERROR(ReadReal(body, "temperature", {0, 2}, &o->temperature));
  RETURN_IF_ERROR(ReadReal(body, "top_p", {0, 1, true}, &o->top_p));
  RETURN_IF_ERROR(ReadInt32(body, "top_k", {-1, kInt32Max}, &o->top_k));
  if (o->top_k < 0) o->top_k = 0;
  RETURN_IF_ERROR(ReadReal(body, "min_p", {0, 1}, &o->min_p));
  RETURN_IF_ERROR(
      ReadReal(body, "presence_penalty", {-2, 2}, &o->presence_penalty));
  RETURN_IF_ERROR(
      ReadReal(body, "frequency_penalty", {-2, 2}, &o->frequency_penalty));
  RETURN_IF_ERROR(ReadReal(body, "repetition_penalty", {0, 2, true},
                           &o->repetition_penalty));
  RETURN_IF_ERROR(
      ReadOptionalInt(body, "seed", {kInt64Min, kInt64Max}, &o->seed));
  return absl::OkStatus();
}

absl::Status ParseCommon(const json& body, RequestOptions* o) {
  RETURN_IF_ERROR(ParseModel(body, o));
  RETURN_IF_ERROR(
      ReadOptionalInt(body, "max_tokens", {1, kInt32Max}, &o->max_tokens));
  RETURN_IF_ERROR(ReadOptionalInt(body, "max_completion_tokens", {1, kInt32Max},
                                  &o->max_tokens));
  RETURN_IF_ERROR(
      ReadInt32(body, "min_tokens", {0, kInt32Max}, &o->min_tokens));
  RETURN_IF_ERROR(ParseSampling(body, o));
  RETURN_IF_ERROR(ParseStop(body, o));
  RETURN_IF_ERROR(ParseStopTokenIds(body, o));
  RETURN_IF_ERROR(ReadInt32(body, "n", {1, kMaxN}, &o->n));
  RETURN_IF_ERROR(ParseStreaming(body, o));
  RETURN_IF_ERROR(ReadBool(body, "ignore_eos", &o->ignore_eos));
  RETURN_IF_ERROR(
      ReadBool(body, "skip_special_tokens", &o->skip_special_tokens));
  RETURN_IF_ERROR(ReadString(body, "user", &o->user));
  return absl::OkStatus();
}

// Flattens string or [{"type":"text","text":...}] content.
absl::Status ParseContent(const json& msg, const std::string& param,
                          bool null_ok, std::string* out) {
  const json* content = FindField(msg, "content");
  if (content == nullptr) {
    if (null_ok) return absl::OkStatus();
    return InvalidParamError(param, absl::StrCat("'", param, "' is required"));
  }
  if (content->is_string()) {
    *out = content->get<std::string>();
    return absl::OkStatus();
  }
  if (!content->is_array()) {
    return InvalidParamError(
        param, absl::StrCat("'", param,
                            "' must be a string or a list of content parts"));
  }
  for (size_t j = 0; j < content->size(); ++j) {
    const json& part = (*content)[j];
    const std::string part_param = Indexed(param, j);
    std::string type;
    if (part.is_object()) RETURN_IF_ERROR(ReadString(part, "type", &type));
    if (type != "text") {
      return InvalidParamError(
          part_param + ".type",
          "only content parts of type 'text' are supported");
    }
    std::string text;
    RETURN_IF_ERROR(ReadString(part, "text", &text, part_param + ".text"));
    if (j > 0) out->push_back('\n');
    out->append(text);
  }
  return absl::OkStatus();
}

absl::Status ParseMessage(const json& msg, size_t i, ChatMessage* out) {
  const std::string param = Indexed("messages", i);
  if (!msg.is_object()) {
    return InvalidParamError(param, "each message must be an object");
  }
  const json* role = FindField(msg, "role");
  if (role == nullptr || !role->is_string()) {
    return InvalidParamError(param + ".role",
                             "each message needs a string 'role'");
  }
  out->role = role->get<std::string>();
  if (out->role == "developer") out->role = "system";
  if (out->role == "tool" || out->role == "function") {
    return InvalidParamError(param + ".role",
                             "tool and function messages are not supported");
  }
  if (out->role != "system" && out->role != "user" &&
      out->role != "assistant") {
    return InvalidParamError(
        param + ".role",
        absl::StrCat("unknown role '", out->role,
                     "'; expected system, developer, user or assistant"));
  }
  return ParseContent(msg, param + ".content", out->role == "assistant",
                      &out->content);
}

absl::Status ParseMessages(const json& body, std::vector<ChatMessage>* out) {
  const json* messages = FindField(body, "messages");
  if (messages == nullptr) {
    return InvalidParamError("messages", "'messages' is required");
  }
  if (!messages->is_array() || messages->empty()) {
    return InvalidParamError("messages", "'messages' must be a non-empty list");
  }
  out->resize(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    RETURN_IF_ERROR(ParseMessage((*messages)[i], i, &(*out)[i]));
  }
  return absl::OkStatus();
}

absl::Status ParseTokenList(const json& list, const std::string& param,
                            std::vector<int32_t>* out) {
  if (list.empty()) {
    return InvalidParamError(param, "token id lists must not be empty");
  }
  for (size_t i = 0; i < list.size(); ++i) {
    int64_t id = 0;
    RETURN_IF_ERROR(JsonToInt(list[i], Indexed(param, i), {0, kInt32Max}, &id));
    out->push_back(static_cast<int32_t>(id));
  }
  return absl::OkStatus();
}

absl::Status ParsePromptArray(const json& arr,
                              std::vector<CompletionPrompt>* out) {
  if (arr.front().is_number()) {  // One pre-tokenized prompt.
    CompletionPrompt p{.is_token_ids = true};
    RETURN_IF_ERROR(ParseTokenList(arr, "prompt", &p.token_ids));
    out->push_back(std::move(p));
    return absl::OkStatus();
  }
  if (arr.size() > kMaxPrompts) {
    return InvalidParamError("prompt", absl::StrCat("at most ", kMaxPrompts,
                                                    " prompts per request"));
  }
  const bool strings = arr.front().is_string();
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& e = arr[i];
    CompletionPrompt p;
    if (strings && e.is_string()) {
      p.text = e.get<std::string>();
    } else if (!strings && e.is_array()) {
      p.is_token_ids = true;
      RETURN_IF_ERROR(ParseTokenList(e, Indexed("prompt", i), &p.token_ids));
    } else {
      return InvalidParamError(
          Indexed("prompt", i),
          "'prompt' must be a string, a list of strings, a list of token ids "
          "or a list of lists of token ids");
    }
    out->push_back(std::move(p));
  }
  return absl::OkStatus();
}

absl::Status ParsePrompt(const json& body, std::vector<CompletionPrompt>* out) {
  const json* prompt = FindField(body, "prompt");
  if (prompt == nullptr) {
    return InvalidParamError("prompt", "'prompt' is required");
  }
  if (prompt->is_string()) {
    out->push_back({.text = prompt->get<std::string>()});
    return absl::OkStatus();
  }
  if (!prompt->is_array() || prompt->empty()) {
    return InvalidParamError("prompt",
                             "'prompt' must be a string or a non-empty list");
  }
  return ParsePromptArray(*prompt, out);
}

}  // namespace

absl::StatusOr<ChatCompletionRequest> ParseChatCompletionRequest(
    std::string_view body_text) {
  json body;
  RETURN_IF_ERROR(ParseJsonObject(body_text, &body));
  ChatCompletionRequest req;
  RETURN_IF_ERROR(ParseCommon(body, &req.options));
  RETURN_IF_ERROR(ParseMessages(body, &req.messages));
  RETURN_IF_ERROR(
      ReadBool(body, "add_generation_prompt", &req.add_generation_prompt));
  RequestOptions& o = req.options;
  RETURN_IF_ERROR(ReadBool(body, "logprobs", &o.logprobs));
  RETURN_IF_ERROR(ReadInt32(body, "top_logprobs", {0, kMaxTopLogprobsChat},
                            &o.top_logprobs));
  if (o.top_logprobs > 0 && !o.logprobs) {
    return InvalidParamError("top_logprobs",
                             "'top_logprobs' requires 'logprobs' to be true");
  }
  return req;
}

absl::StatusOr<CompletionRequest> ParseCompletionRequest(
    std::string_view body_text) {
  json body;
  RETURN_IF_ERROR(ParseJsonObject(body_text, &body));
  CompletionRequest req;
  RETURN_IF_ERROR(ParseCommon(body, &req.options));
  RETURN_IF_ERROR(ParsePrompt(body, &req.prompts));
  RETURN_IF_ERROR(ReadBool(body, "echo", &req.echo));
  std::optional<int64_t> logprobs;
  RETURN_IF_ERROR(ReadOptionalInt(body, "logprobs", {0, kMaxLogprobsCompletion},
                                  &logprobs));
  if (logprobs.has_value()) {
    req.options.logprobs = true;
    req.options.top_logprobs = static_cast<int32_t>(*logprobs);
  }
  return req;
}

}  // namespace infernum::router
