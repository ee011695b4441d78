// WorkerServer: one model replica served over gRPC. Owns, in construction
// order, the loaded model, the EngineLoop, the metrics, the Worker service,
// the grpc::Server (with libgrpc++'s grpc.health.v1 service) and, when
// config.metrics_listen is set, the Prometheus /metrics HTTP server.
//
//   auto server = WorkerServer::Start(config);   // loads, binds, serves
//   ... server->Shutdown(grace) from any thread (SIGTERM) ...
//   server->Wait();                              // returns after Shutdown
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/engine_loop.h"
#include "worker/model_setup.h"
#include "worker/server/metrics_http_server.h"
#include "worker/server/worker_config.h"
#include "worker/server/worker_metrics.h"
#include "worker/server/worker_service.h"

namespace infernum::worker {

class WorkerServer {
 public:
  // Loads the model (SetupModel), creates the engine (KV cache), builds the
  // ModelInfo and starts serving on config.listen (and /metrics on
  // config.metrics_listen when set); health is SERVING when this returns.
  // Errors: those of SetupModel / Engine::Create / BuildModelInfo,
  // Unavailable if an address cannot be bound.
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Start(
      const WorkerConfig& config);

  // Shutdown(0) if Shutdown was not called.
  ~WorkerServer();
  WorkerServer(const WorkerServer&) = delete;
  WorkerServer& operator=(const WorkerServer&) = delete;

  // Graceful stop, safe from any thread, idempotent (a second call waits for
  // the first): health NOT_SERVING, new Generate calls get UNAVAILABLE,
  // WatchLoad streams end; in-flight requests get up to `grace` to finish,
  // then are aborted (their streams end with FINISH_REASON_ABORT and an
  // error message); then the gRPC server, the engine and the /metrics
  // server stop (/metrics answers during the grace period).
  void Shutdown(std::chrono::milliseconds grace);
  // Aborts every in-flight request now (e.g. a second SIGINT during the
  // grace period); thread-safe, also while Shutdown runs.
  void AbortInFlight() { service_->AbortAll(); }
  // Blocks until Shutdown has completed.
  void Wait();

  int port() const { return port_; }
  // host:port with the bound port (host as given in config.listen).
  const std::string& address() const { return address_; }
  const std::string& model_name() const { return model_name_; }
  const std::string& worker_id() const { return worker_id_; }
  // The engine's resolved settings (num_blocks, max_model_len).
  const EngineConfig& engine_config() const { return loop_->config(); }
  // The bound /metrics port, 0 when config.metrics_listen is empty.
  int metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }
  // host:port of /metrics ("" when off).
  std::string metrics_address() const {
    return metrics_http_ ? metrics_http_->address() : "";
  }
  WorkerMetrics& metrics() { return *metrics_; }

 private:
  WorkerServer() = default;
  absl::Status Init(const WorkerConfig& config);
  absl::Status StartEngine(const WorkerConfig& config);
  absl::Status StartGrpc(const WorkerConfig& config);
  absl::Status StartMetricsHttp(const WorkerConfig& config);

  // Destroyed in reverse: /metrics server, gRPC server, service, loop,
  // metrics, model.
  LoadedModel loaded_;
  std::unique_ptr<WorkerMetrics> metrics_;
  std::unique_ptr<EngineLoop> loop_;
  std::unique_ptr<WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int port_ = 0;
  std::string address_;
  std::string model_name_;
  std::string worker_id_;

  std::mutex shutdown_mu_;  // held for the whole shutdown sequence
  bool shut_down_ = false;  // guarded by shutdown_mu_
};

// Enough KV cache bytes for max_num_seqs sequences of max_model_len tokens,
// capped at kDefaultKvCacheCap (the default when kv_cache_memory is 0).
int64_t DefaultKvCacheBytes(int64_t bytes_per_block, int block_size,
                            int max_model_len, int max_num_seqs);

}  // namespace infernum::worker
