#include "router/server/request_builder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "router/api/chat_template.h"
#include "router/api/errors.h"

namespace infernum::router {
namespace {

absl::Status CheckIds(const std::vector<int32_t>& ids, int32_t vocab_size,
                      const std::string& param) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return InvalidParamError(
          absl::StrCat(param, "[", i, "]"),
          absl::StrCat("token id ", ids[i], " is outside the vocabulary [0, ",
                       vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status EmptyPromptError(std::string_view param) {
  return InvalidParamError(param, "the prompt must contain at least one token");
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> TokenizeChat(
    const ModelAssets& model, const ChatCompletionRequest& request) {
  const auto& config = model.text->chat_template;
  if (!config.ok()) {
    return InvalidParamError(
        "messages",
        absl::StrCat("model '", model.model_id,
                     "' has no supported chat template (",
                     config.status().message(), "); use /v1/completions"));
  }
  absl::StatusOr<RenderedPrompt> rendered = RenderChatTemplate(
      *config, request.messages, request.add_generation_prompt);
  if (!rendered.ok()) {
    return InvalidParamError("messages",
                             std::string(rendered.status().message()));
  }
  absl::StatusOr<std::vector<int32_t>> ids = model.tokenizer().Encode(
      rendered->text, /*add_special_tokens=*/!rendered->contains_bos);
  if (!ids.ok())
    return InvalidParamError("messages", std::string(ids.status().message()));
  if (ids->empty()) return EmptyPromptError("messages");
  return ids;
}

absl::StatusOr<std::vector<int32_t>> TokenizeCompletionPrompt(
    const ModelAssets& model, const CompletionPrompt& prompt, size_t index) {
  const std::string param =
      index == 0 ? std::string("prompt") : absl::StrCat("prompt[", index, "]");
  if (prompt.is_token_ids) {
    RETURN_IF_ERROR(CheckIds(prompt.token_ids, model.vocab_size, param));
    return prompt.token_ids;
  }
  absl::StatusOr<std::vector<int32_t>> ids =
      model.tokenizer().Encode(prompt.text, /*add_special_tokens=*/true);
  if (!ids.ok())
    return InvalidParamError(param, std::string(ids.status().message()));
  if (ids->empty()) return EmptyPromptError(param);
  return ids;
}

absl::Status ValidateOptionsForModel(const RequestOptions& options,
                                     const ModelAssets& model) {
  return CheckIds(options.stop_token_ids, model.vocab_size, "stop_token_ids");
}

absl::StatusOr<int32_t> ResolveMaxTokens(const RequestOptions& options,
                                         int64_t prompt_len,
                                         const ModelAssets& model, int64_t cap,
                                         std::string_view noun_view) {
  const int64_t context = model.max_context_length;
  const std::string noun(noun_view);
  if (prompt_len >= context) {
    return MakeApiError(
        ErrorKind::kContextLengthExceeded,
        absl::StrCat("This model's maximum context length is ", context,
                     " tokens. However, your ", noun, " resulted in ",
                     prompt_len,
                     " tokens, leaving no room for a completion. "
                     "Please reduce the length of the ",
                     noun, "."),
        noun);
  }
  int64_t max_tokens = context - prompt_len;
  if (cap > 0) max_tokens = std::min(max_tokens, cap);
  if (options.max_tokens.has_value()) {
    const int64_t requested = *options.max_tokens;
    if (cap > 0 && requested > cap) {
      return InvalidParamError(
          "max_tokens", absl::StrCat("max_tokens is ", requested,
                                     " but this server allows at most ", cap));
    }
    if (prompt_len + requested > context) {
      return MakeApiError(
          ErrorKind::kContextLengthExceeded,
          absl::StrCat("This model's maximum context length is ", context,
                       " tokens. However, you requested ",
                       prompt_len + requested, " tokens (", prompt_len,
                       " in the ", noun, ", ", requested,
                       " in the completion). Please reduce the length of the ",
                       noun, " or completion."),
          noun);
    }
    max_tokens = requested;
  }
  if (options.min_tokens > max_tokens) {
    return InvalidParamError(
        "min_tokens",
        absl::StrCat("min_tokens (", options.min_tokens,
                     ") must not exceed max_tokens (", max_tokens, ")"));
  }
  return static_cast<int32_t>(max_tokens);
}

int64_t SampleSeed(int64_t seed, int sample) {
  if (sample == 0) return seed;
  uint64_t z = static_cast<uint64_t>(seed) +
               static_cast<uint64_t>(sample) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return static_cast<int64_t>(z ^ (z >> 31));
}

v1::GenerateRequest MakeGenerateRequest(const RequestOptions& o,
                                        const ModelAssets& model,
                                        const SequenceSpec& spec) {
  v1::GenerateRequest req;
  req.set_request_id(spec.request_id);
  req.mutable_prompt_token_ids()->Assign(spec.prompt_ids.begin(),
                                         spec.prompt_ids.end());
  v1::SamplingParams* s = req.mutable_sampling();
  s->set_temperature(static_cast<float>(o.temperature));
  s->set_top_p(static_cast<float>(o.top_p));
  s->set_top_k(o.top_k);
  s->set_min_p(static_cast<float>(o.min_p));
  s->set_presence_penalty(static_cast<float>(o.presence_penalty));
  s->set_frequency_penalty(static_cast<float>(o.frequency_penalty));
  s->set_repetition_penalty(static_cast<float>(o.repetition_penalty));
  if (o.seed.has_value()) s->set_seed(SampleSeed(*o.seed, spec.sample));
  req.set_max_tokens(spec.max_tokens);
  req.set_min_tokens(o.min_tokens);
  std::vector<int32_t> stops = o.stop_token_ids;
  if (!o.ignore_eos) {
    for (int32_t id : model.extra_stop_token_ids) {
      if (std::find(stops.begin(), stops.end(), id) == stops.end()) {
        stops.push_back(id);
      }
    }
  }
  req.mutable_stop_token_ids()->Assign(stops.begin(), stops.end());
  req.set_ignore_eos(o.ignore_eos);
  req.set_logprobs(o.logprobs);
  req.set_top_logprobs(o.logprobs ? o.top_logprobs : 0);
  return req;
}

v1::GenerateRequest MakeResumeRequest(const v1::GenerateRequest& original,
                                      const std::vector<int32_t>& generated) {
  v1::GenerateRequest req = original;
  const int32_t k = static_cast<int32_t>(generated.size());
  req.mutable_prompt_token_ids()->Add(generated.begin(), generated.end());
  if (original.max_tokens() > 0) req.set_max_tokens(original.max_tokens() - k);
  req.set_num_previously_generated(original.num_previously_generated() + k);
  return req;
}

}  // namespace infernum::router
