// The whole router built from a RouterConfig: worker pool, admission,
// API keys, metrics, access log, API service and HTTP server, wired the way
// infernum-router runs them (main.cc) and the end-to-end tests use them.
//
//   ASSIGN_OR_RETURN(auto app, RouterApp::Create(config));
//   ASSIGN_OR_RETURN(int port, app->Bind());
//   std::thread serve([&] { app->Serve(); });
//   ... app->Shutdown(grace); serve.join();
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "router/server/access_log.h"
#include "router/server/admission.h"
#include "router/server/api_service.h"
#include "router/server/auth.h"
#include "router/server/config.h"
#include "router/server/http_server.h"
#include "router/server/router_counters.h"
#include "router/server/router_metrics.h"
#include "router/server/worker_pool.h"

namespace infernum::router {

class RouterApp {
 public:
  // Test seams; main() leaves them empty.
  struct Overrides {
    // The value of the config.api_key_env variable; nullopt = read the
    // process environment.
    std::optional<std::string> api_key_env_value;
    AccessLog::Sink access_log_sink;  // Null = stderr.
    int min_http_threads = 8;
  };

  // Builds every part (nothing connects or listens yet). Errors: an
  // invalid config (WorkerPool::FromConfig).
  static absl::StatusOr<std::unique_ptr<RouterApp>> Create(
      const RouterConfig& config, Overrides overrides);
  static absl::StatusOr<std::unique_ptr<RouterApp>> Create(
      const RouterConfig& config) {
    return Create(config, Overrides());
  }
  ~RouterApp();

  RouterApp(const RouterApp&) = delete;
  RouterApp& operator=(const RouterApp&) = delete;

  // Polls every worker once and starts the background refresh, then binds
  // the listen address; returns the bound port.
  absl::StatusOr<int> Start();
  // Serves until Shutdown(); blocks (see HttpServer::Serve).
  void Serve() { server_->Serve(); }
  // See HttpServer::Shutdown.
  void Shutdown(absl::Duration grace) { server_->Shutdown(grace); }

  WorkerPool& pool() { return *pool_; }
  HttpServer& server() { return *server_; }
  Admission& admission() { return *admission_; }
  RouterCounters& counters() { return counters_; }
  const ApiKeyAuth& auth() const { return *auth_; }

 private:
  RouterApp() = default;

  // Declaration order = construction order; destroyed in reverse (the
  // server first, the pool last).
  RouterConfig config_;
  std::unique_ptr<WorkerPool> pool_;
  RouterCounters counters_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<ApiKeyAuth> auth_;
  metrics::Registry registry_;
  std::unique_ptr<RouterMetrics> metrics_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<ApiService> service_;
  std::unique_ptr<HttpServer> server_;
};

// The pool's workers as the metrics see them.
std::vector<WorkerSample> WorkerSamples(const WorkerPool& pool);

}  // namespace infernum::router
