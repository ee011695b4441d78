#include "router/server/api_service.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "router/api/errors.h"
#include "router/api/openai_request.h"
#include "router/api/openai_response.h"
#include "router/server/request_builder.h"

namespace infernum::router {

ApiService::ApiService(WorkerPool* pool, Options options)
    : pool_(pool),
      options_(std::move(options)),
      created_(absl::ToUnixSeconds(absl::Now())) {
  absl::BitGen gen;
  id_base_ = absl::Uniform<uint64_t>(gen);
}

ApiResponse ApiService::Error(const absl::Status& status) {
  const ApiError error = ApiErrorFromStatus(status);
  return ApiResponse{.status = error.info().http_status,
                     .body = ErrorBodyJson(error)};
}

ResponseMeta ApiService::NewMeta(std::string_view prefix,
                                 const std::string& model) {
  ResponseMeta meta;
  meta.id = MakeResponseId(prefix, id_base_, id_counter_.fetch_add(1));
  meta.created = absl::ToUnixSeconds(absl::Now());
  meta.model = model;
  meta.system_fingerprint = options_.system_fingerprint;
  return meta;
}

absl::StatusOr<RunSpec> ApiService::PrepareChat(std::string_view body) {
  ASSIGN_OR_RETURN(ChatCompletionRequest req, ParseChatCompletionRequest(body));
  ASSIGN_OR_RETURN(ModelRegistry::Route route,
                   pool_->registry().Find(req.options.model));
  const ModelAssets& model = *route.assets;
  RETURN_IF_ERROR(ValidateOptionsForModel(req.options, model));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenizeChat(model, req));
  ASSIGN_OR_RETURN(int32_t max_tokens,
                   ResolveMaxTokens(req.options, ids.size(), model,
                                    options_.max_tokens_cap, "messages"));
  RunSpec spec;
  spec.endpoint = Endpoint::kChat;
  spec.meta = NewMeta("chatcmpl-", model.model_id);
  for (int j = 0; j < req.options.n; ++j) {
    spec.sequences.push_back({.request_id = absl::StrCat(spec.meta.id, "-", j),
                              .prompt_ids = ids,
                              .max_tokens = max_tokens,
                              .sample = j});
  }
  spec.prompt_tokens = static_cast<int64_t>(ids.size());
  spec.options = std::move(req.options);
  spec.model = route.assets;
  spec.route_workers = std::move(route.workers);
  return spec;
}

absl::StatusOr<RunSpec> ApiService::PrepareCompletion(std::string_view body) {
  ASSIGN_OR_RETURN(CompletionRequest req, ParseCompletionRequest(body));
  if (req.echo && req.options.logprobs) {
    return MakeApiError(ErrorKind::kNotImplemented,
                        "echo together with logprobs is not supported", "echo");
  }
  ASSIGN_OR_RETURN(ModelRegistry::Route route,
                   pool_->registry().Find(req.options.model));
  const ModelAssets& model = *route.assets;
  RETURN_IF_ERROR(ValidateOptionsForModel(req.options, model));
  RunSpec spec;
  spec.endpoint = Endpoint::kCompletion;
  spec.meta = NewMeta("cmpl-", model.model_id);
  for (size_t p = 0; p < req.prompts.size(); ++p) {
    ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                     TokenizeCompletionPrompt(model, req.prompts[p], p));
    ASSIGN_OR_RETURN(int32_t max_tokens,
                     ResolveMaxTokens(req.options, ids.size(), model,
                                      options_.max_tokens_cap, "prompt"));
    std::string echo;
    if (req.echo) {
      if (req.prompts[p].is_token_ids) {
        auto text = model.tokenizer().Decode(ids, /*skip_special_tokens=*/
                                             req.options.skip_special_tokens);
        if (text.ok()) echo = std::move(*text);
      } else {
        echo = req.prompts[p].text;
      }
    }
    spec.prompt_tokens += static_cast<int64_t>(ids.size());
    for (int j = 0; j < req.options.n; ++j) {
      const size_t index = spec.sequences.size();
      spec.sequences.push_back(
          {.request_id = absl::StrCat(spec.meta.id, "-", index),
           .prompt_ids = ids,
           .max_tokens = max_tokens,
           .sample = j});
      spec.echo_prefix.push_back(echo);
    }
  }
  spec.options = std::move(req.options);
  spec.model = route.assets;
  spec.route_workers = std::move(route.workers);
  return spec;
}

std::string ApiService::PolicyOf(const std::string& model) const {
  return pool_->PolicyName(model);
}

bool ApiService::Admit(const ConnectionCheck& connected, ApiResponse* out) {
  if (options_.admission == nullptr) return true;
  Admission::Refusal refusal = Admission::Refusal::kNone;
  absl::StatusOr<Admission::Slot> slot = options_.admission->Acquire(
      out->info.model, [&connected] { return !connected(); }, &refusal);
  if (slot.ok()) {
    out->slot = std::move(*slot);
    return true;
  }
  GenerationInfo info = std::move(out->info);
  *out = Error(slot.status());
  out->info = std::move(info);
  if (refusal == Admission::Refusal::kQueueFull ||
      refusal == Admission::Refusal::kQueueTimeout) {
    out->retry_after_s = options_.admission->retry_after_seconds();
    out->rejected = refusal == Admission::Refusal::kQueueFull ? "rate_limit"
                                                              : "queue_timeout";
  }
  return false;
}

void ApiService::Run(RunSpec spec, const ConnectionCheck& connected,
                     ApiResponse* out) {
  spec.deadline = absl::Now() + options_.request_timeout;
  spec.max_attempts = options_.max_worker_attempts;
  spec.stall_timeout = options_.stall_timeout;
  spec.max_migrations = options_.max_migrations;
  spec.counters = options_.counters;
  const bool stream = spec.options.stream;
  auto run = std::make_shared<GenerationRun>(pool_, std::move(spec));
  absl::Status st = run->Prime(connected);
  if (st.ok() && stream) {
    out->status = 200;
    out->stream = std::move(run);
    return;
  }
  absl::StatusOr<std::string> body =
      st.ok() ? run->Collect(connected) : absl::StatusOr<std::string>(st);
  if (!body.ok()) {
    const ApiResponse error = Error(body.status());
    out->status = error.status;
    out->body = error.body;
    return;
  }
  out->status = 200;
  out->body = std::move(*body);
  out->info.completion_tokens = run->usage().completion_tokens;
  out->info.workers = run->workers_used();
}

ApiResponse ApiService::Serve(absl::StatusOr<RunSpec> spec,
                              const ConnectionCheck& connected) {
  if (!spec.ok()) return Error(spec.status());
  ApiResponse out;
  out.info.model = spec->model->model_id;
  out.info.policy = PolicyOf(out.info.model);
  out.info.stream = spec->options.stream;
  out.info.prompt_tokens = spec->prompt_tokens;
  if (!Admit(connected, &out)) return out;
  Run(std::move(*spec), connected, &out);
  return out;
}

ApiResponse ApiService::ChatCompletions(std::string_view body,
                                        const ConnectionCheck& connected) {
  return Serve(PrepareChat(body), connected);
}

ApiResponse ApiService::Completions(std::string_view body,
                                    const ConnectionCheck& connected) {
  return Serve(PrepareCompletion(body), connected);
}

ApiResponse ApiService::Models() const {
  ResponseJson data = ResponseJson::array();
  for (const auto& model : pool_->registry().ServedModels()) {
    data.push_back({{"id", model->model_id},
                    {"object", "model"},
                    {"created", created_},
                    {"owned_by", "infernum"},
                    {"root", model->model_id},
                    {"max_model_len", model->max_context_length}});
  }
  ResponseJson body = {{"object", "list"}, {"data", std::move(data)}};
  return ApiResponse{.status = 200, .body = DumpJson(body)};
}

ApiResponse ApiService::Health() const {
  const ModelRegistry& registry = pool_->registry();
  const int healthy = registry.num_healthy();
  ResponseJson models = ResponseJson::array();
  for (const auto& model : registry.ServedModels()) {
    models.push_back(model->model_id);
  }
  ResponseJson body = {{"status", healthy > 0 ? "ok" : "unavailable"},
                       {"workers_healthy", healthy},
                       {"workers_total", registry.num_workers()},
                       {"models", std::move(models)}};
  return ApiResponse{.status = healthy > 0 ? 200 : 503, .body = DumpJson(body)};
}

ApiResponse ApiService::Ready() const {
  if (!pool_->Ready()) {
    return Error(
        MakeApiError(ErrorKind::kServiceUnavailable,
                     "not ready: a configured model has no healthy worker"));
  }
  return ApiResponse{.status = 200, .body = R"({"status":"ready"})"};
}

}  // namespace infernum::router
