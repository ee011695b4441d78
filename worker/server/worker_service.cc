#include "worker/server/worker_service.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error_codes.h"
#include "common/logging.h"
#include "worker/server/proto_convert.h"

namespace infernum::worker {

WorkerService::WorkerService(EngineLoop& loop, v1::ModelInfo info,
                             WorkerMetrics* metrics)
    : loop_(loop), metrics_(metrics), info_(std::move(info)) {}

void WorkerService::SetWorkerId(const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  info_.set_worker_id(worker_id);
}

void WorkerService::BeginShutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  shutdown_cv_.notify_all();
}

void WorkerService::AbortAll() {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, count] : active_ids_) ids.push_back(id);
  }
  for (const std::string& id : ids) loop_.Abort(id).IgnoreError();
}

bool WorkerService::WaitForGenerateHandlers(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return handlers_cv_.wait_for(lock, timeout,
                               [&] { return num_handlers_ == 0; });
}

bool WorkerService::shutting_down() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_;
}

grpc::Status WorkerService::Generate(
    grpc::ServerContext* context, const v1::GenerateRequest* request,
    grpc::ServerWriter<v1::GenerateResponse>* writer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++num_handlers_;
  }
  const grpc::Status status = GenerateImpl(context, request, writer);
  std::lock_guard<std::mutex> lock(mu_);
  if (--num_handlers_ == 0) handlers_cv_.notify_all();
  return status;
}

grpc::Status WorkerService::GenerateImpl(
    grpc::ServerContext* context, const v1::GenerateRequest* request,
    grpc::ServerWriter<v1::GenerateResponse>* writer) {
  if (shutting_down()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "worker is shutting down");
  }
  absl::StatusOr<EngineRequest> engine_request = ToEngineRequest(*request);
  if (!engine_request.ok()) return ToGrpcStatus(engine_request.status());
  if (engine_request->request_id.empty()) {
    engine_request->request_id =
        absl::StrCat("anonymous-", next_anonymous_id_++);
  }
  const std::string id = engine_request->request_id;
  const bool with_logprobs = request->logprobs();
  auto sink = std::make_shared<QueueSink>();
  std::shared_ptr<RequestSink> engine_sink = sink;
  if (metrics_ != nullptr) {
    engine_sink = std::make_shared<MetricsSink>(sink, metrics_);
  }
  const absl::Status submitted =
      loop_.Submit(std::move(*engine_request), std::move(engine_sink));
  if (!submitted.ok()) return ToGrpcStatus(submitted);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++active_ids_[id];
  }
  const grpc::Status status =
      StreamOutputs(context, id, with_logprobs, *sink, writer);
  std::lock_guard<std::mutex> lock(mu_);
  if (--active_ids_[id] == 0) active_ids_.erase(id);
  return status;
}

grpc::Status WorkerService::StreamOutputs(
    grpc::ServerContext* context, const std::string& request_id,
    bool with_logprobs, QueueSink& sink,
    grpc::ServerWriter<v1::GenerateResponse>* writer) {
  const grpc::Status cancelled(grpc::StatusCode::CANCELLED,
                               "request cancelled by the client");
  bool wrote_tokens = false;
  while (true) {
    if (context->IsCancelled()) {
      loop_.Abort(request_id).IgnoreError();  // NotFound: it just finished.
      return cancelled;
    }
    std::optional<QueueSink::Event> first = sink.Next(kPollInterval);
    if (!first.has_value()) continue;
    std::vector<QueueSink::Event> events;
    events.push_back(std::move(*first));
    for (QueueSink::Event& e : sink.TakeAll()) events.push_back(std::move(e));

    v1::GenerateResponse chunk;
    std::optional<FinalOutput> final_output;
    for (const QueueSink::Event& e : events) {
      if (e.token.has_value())
        AppendToken(*e.token, with_logprobs, chunk.mutable_chunk());
      if (e.final_output.has_value()) final_output = e.final_output;
    }
    if (chunk.has_chunk()) {
      if (!writer->Write(chunk)) {
        loop_.Abort(request_id).IgnoreError();
        return cancelled;
      }
      wrote_tokens = true;
    }
    if (!final_output.has_value()) continue;
    if (final_output->finish_reason == FinishReason::kError && !wrote_tokens) {
      LOG(WARNING) << "request " << request_id
                   << " failed: " << final_output->error;
      if (final_output->error.ok()) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "generation failed");
      }
      return ToGrpcStatus(final_output->error);
    }
    v1::GenerateResponse last;
    *last.mutable_final() = ToGenerateFinal(*final_output);
    writer->Write(last);  // If the client is gone there is nothing left to do.
    return grpc::Status::OK;
  }
}

grpc::Status WorkerService::GetModelInfo(grpc::ServerContext*,
                                         const v1::GetModelInfoRequest*,
                                         v1::ModelInfo* response) {
  std::lock_guard<std::mutex> lock(mu_);
  *response = info_;
  return grpc::Status::OK;
}

grpc::Status WorkerService::GetLoad(grpc::ServerContext*,
                                    const v1::GetLoadRequest*,
                                    v1::LoadReport* response) {
  *response = ToLoadReport(loop_.stats(), absl::ToUnixMillis(absl::Now()));
  return grpc::Status::OK;
}

grpc::Status WorkerService::WatchLoad(
    grpc::ServerContext* context, const v1::WatchLoadRequest* request,
    grpc::ServerWriter<v1::LoadReport>* writer) {
  const int interval_ms = request->interval_ms() <= 0
                              ? 1000
                              : std::clamp(request->interval_ms(), 50, 10000);
  while (true) {
    if (!writer->Write(
            ToLoadReport(loop_.stats(), absl::ToUnixMillis(absl::Now())))) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    const auto next = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(interval_ms);
    std::unique_lock<std::mutex> lock(mu_);
    while (std::chrono::steady_clock::now() < next) {
      if (shutting_down_) return grpc::Status::OK;
      if (context->IsCancelled()) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
      }
      shutdown_cv_.wait_until(
          lock,
          std::min(next, std::chrono::steady_clock::now() + kPollInterval * 5));
    }
    if (shutting_down_) return grpc::Status::OK;
  }
}

}  // namespace infernum::worker
