// The Worker gRPC service (proto/infernum/v1/worker.proto) on top of an
// EngineLoop. Synchronous gRPC API: every in-flight RPC holds one server
// thread; a Generate handler drains its request's QueueSink and polls
// ServerContext::IsCancelled between events, so a client that goes away
// (disconnect, deadline) has its request aborted within kPollInterval and its
// KV blocks freed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "proto/infernum/v1/worker.grpc.pb.h"
#include "worker/engine/engine_loop.h"
#include "worker/engine/output_sink.h"
#include "worker/server/worker_metrics.h"

namespace infernum::worker {

class WorkerService final : public v1::Worker::Service {
 public:
  // How often a waiting handler re-checks for cancellation / shutdown.
  static constexpr std::chrono::milliseconds kPollInterval{20};

  // `loop` must outlive the service. `info` is returned by GetModelInfo.
  // `metrics` (may be null; else must outlive every request) records each
  // request's outcome and timings when it finishes.
  WorkerService(EngineLoop& loop, v1::ModelInfo info,
                WorkerMetrics* metrics = nullptr);

  // Errors before any token: the RPC status (INVALID_ARGUMENT for bad
  // params / token ids, OUT_OF_RANGE for prompt + max_tokens over the
  // context, RESOURCE_EXHAUSTED when it can never fit the KV cache,
  // ALREADY_EXISTS for a live request_id, UNAVAILABLE while shutting down).
  // Then TokenChunks (all tokens ready at once share one chunk), then one
  // GenerateFinal with OK status; an engine failure after tokens were sent
  // ends with FINISH_REASON_ERROR, a shutdown abort with FINISH_REASON_ABORT.
  // A cancelled RPC aborts the engine request and returns CANCELLED.
  grpc::Status Generate(
      grpc::ServerContext* context, const v1::GenerateRequest* request,
      grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const v1::GetModelInfoRequest* request,
                            v1::ModelInfo* response) override;
  grpc::Status GetLoad(grpc::ServerContext* context,
                       const v1::GetLoadRequest* request,
                       v1::LoadReport* response) override;
  // Reports every interval_ms (clamped to [50, 10000]; 0 = 1000) until the
  // client cancels (CANCELLED) or the service shuts down (OK).
  grpc::Status WatchLoad(grpc::ServerContext* context,
                         const v1::WatchLoadRequest* request,
                         grpc::ServerWriter<v1::LoadReport>* writer) override;

  // Sets ModelInfo.worker_id (known once the port is bound). Thread-safe.
  void SetWorkerId(const std::string& worker_id);
  // From now on Generate answers UNAVAILABLE and WatchLoad streams end.
  // Idempotent; thread-safe. In-flight Generate streams continue.
  void BeginShutdown();
  // Aborts every in-flight Generate (their streams end with
  // FINISH_REASON_ABORT). Thread-safe.
  void AbortAll();
  // Waits until no Generate handler is running or `timeout` passed; true if
  // none is. (After the engine stopped, handlers return as soon as they have
  // written their final message.) Thread-safe.
  bool WaitForGenerateHandlers(std::chrono::milliseconds timeout);

 private:
  // Generate without the handler count.
  grpc::Status GenerateImpl(grpc::ServerContext* context,
                            const v1::GenerateRequest* request,
                            grpc::ServerWriter<v1::GenerateResponse>* writer);
  // Streams one accepted request's outputs until its final event or until
  // the client goes away.
  grpc::Status StreamOutputs(grpc::ServerContext* context,
                             const std::string& request_id, bool with_logprobs,
                             QueueSink& sink,
                             grpc::ServerWriter<v1::GenerateResponse>* writer);
  bool shutting_down() const;

  EngineLoop& loop_;
  WorkerMetrics* const metrics_;
  mutable std::mutex mu_;
  std::condition_variable shutdown_cv_;
  v1::ModelInfo info_;                                // guarded by mu_
  bool shutting_down_ = false;                        // guarded by mu_
  std::condition_variable handlers_cv_;               // num_handlers_ reached 0
  absl::flat_hash_map<std::string, int> active_ids_;  // id -> handlers; mu_
  int num_handlers_ = 0;  // Generate calls inside the handler; mu_
  std::atomic<int64_t> next_anonymous_id_{0};
};

}  // namespace infernum::worker
