#include "router/server/router_app.h"

#include <cstdlib>
#include <utility>

#include "common/logging.h"

namespace infernum::router {
namespace {

Admission::Options AdmissionOptions(const RouterConfig& config) {
  Admission::Options o;
  o.max_concurrent = config.max_concurrent_requests;
  o.max_queued = config.max_queued_requests;
  o.queue_timeout = absl::Seconds(config.queue_timeout_s);
  for (const ModelPoolConfig& model : config.models) {
    if (model.max_concurrent > 0) {
      o.model_limits[model.name] = model.max_concurrent;
    }
  }
  return o;
}

}  // namespace

std::vector<WorkerSample> WorkerSamples(const WorkerPool& pool) {
  std::vector<WorkerSample> out;
  for (const WorkerSnapshot& w : pool.Snapshot()) {
    out.push_back({.worker = w.address,
                   .model = w.model_id,
                   .healthy = w.healthy,
                   .in_flight = w.num_in_flight,
                   .ejections = w.num_ejections});
  }
  return out;
}

absl::StatusOr<std::unique_ptr<RouterApp>> RouterApp::Create(
    const RouterConfig& config, Overrides overrides) {
  std::unique_ptr<RouterApp> app(new RouterApp());
  app->config_ = config;
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
      WorkerPool::FromConfig(config);
  if (!pool.ok()) return pool.status();
  app->pool_ = std::move(*pool);
  app->admission_ = std::make_unique<Admission>(AdmissionOptions(config));

  const char* env = nullptr;
  if (overrides.api_key_env_value.has_value()) {
    env = overrides.api_key_env_value->c_str();
  } else if (!config.api_key_env.empty()) {
    env = std::getenv(config.api_key_env.c_str());
  }
  app->auth_ = std::make_unique<ApiKeyAuth>(MergeApiKeys(config, env));

  WorkerPool* pool_ptr = app->pool_.get();
  Admission* admission = app->admission_.get();
  app->metrics_ = std::make_unique<RouterMetrics>(
      &app->registry_,
      RouterMetrics::Sources{
          .workers = [pool_ptr] { return WorkerSamples(*pool_ptr); },
          .counters = &app->counters_,
          .queued = [admission] { return admission->num_queued(); }});
  if (config.access_log) {
    app->access_log_ =
        std::make_unique<AccessLog>(std::move(overrides.access_log_sink));
  }
  app->service_ = std::make_unique<ApiService>(
      pool_ptr, ApiService::Options{
                    .max_tokens_cap = config.max_tokens_cap,
                    .request_timeout = absl::Seconds(config.request_timeout_s),
                    .max_worker_attempts = config.max_worker_attempts,
                    .stall_timeout = absl::Seconds(config.stall_timeout_s),
                    .max_migrations = config.max_migrations,
                    .system_fingerprint = config.system_fingerprint,
                    .admission = admission,
                    .counters = &app->counters_});
  app->server_ = std::make_unique<HttpServer>(
      app->service_.get(),
      HttpServer::Options{.listen = config.listen,
                          .max_body_bytes = config.max_body_bytes,
                          .num_threads = config.http_threads,
                          .min_threads = overrides.min_http_threads,
                          .metrics_require_auth = config.metrics_require_auth},
      HttpServer::Hooks{.auth = app->auth_.get(),
                        .access_log = app->access_log_.get(),
                        .metrics = app->metrics_.get()});
  return app;
}

RouterApp::~RouterApp() {
  if (server_ != nullptr) server_->Stop();
}

absl::StatusOr<int> RouterApp::Start() {
  pool_->RefreshAll();
  pool_->StartBackgroundRefresh();
  if (auth_->enabled()) {
    LOG(INFO) << "API keys required (" << auth_->num_keys() << " key(s))";
  }
  return server_->Bind();
}

}  // namespace infernum::router
