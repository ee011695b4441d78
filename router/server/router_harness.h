// Test-only: a complete router (RouterApp: pool, admission, auth, metrics,
// access log, ApiService, HttpServer) on a free localhost port, plus small
// HTTP/SSE client helpers.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "router/server/access_log.h"
#include "router/server/config.h"
#include "router/server/router_app.h"
#include "router/server/worker_pool.h"

namespace infernum::router::testing {

class RouterHarness {
 public:
  struct Options {
    std::vector<std::string> workers;
    int64_t max_body_bytes = int64_t{4} << 20;
    int64_t max_tokens_cap = 0;
    absl::Duration request_timeout = absl::Seconds(60);
    absl::Duration refresh_interval = absl::Milliseconds(200);
    // Any other router.yaml setting, applied last (keys, limits, models...).
    std::function<void(RouterConfig&)> configure;
    // Receives access log lines; null = access log off.
    AccessLog::Sink access_log_sink;
    // Value of the api_key_env variable (the environment is never read).
    std::optional<std::string> api_key_env_value;
    int http_threads = 64;
  };

  // Polls the workers once, then serves. CHECK-fails if the config is
  // invalid or it cannot bind.
  explicit RouterHarness(Options options);
  ~RouterHarness();  // Stop(), if not shut down yet.

  int port() const { return port_; }
  std::unique_ptr<httplib::Client> Client() const;
  WorkerPool& pool() { return app_->pool(); }
  RouterApp& app() { return *app_; }

  // Graceful shutdown (HttpServer::Shutdown), then waits until Serve()
  // returned.
  void Shutdown(absl::Duration grace);

  // POST with Content-Type: application/json (and the headers given).
  httplib::Result PostJson(const std::string& path, const std::string& body,
                           const httplib::Headers& headers = {}) const;

  // Waits until `n` workers are healthy (or the timeout passes).
  bool WaitHealthy(int n, absl::Duration timeout) const;

 private:
  std::unique_ptr<RouterApp> app_;
  std::thread serve_thread_;
  int port_ = 0;
};

// The payloads of the "data: ..." events of an SSE body, in order.
std::vector<std::string> SseEvents(const std::string& body);

// A TCP connection to 127.0.0.1:port (the fd), or -1.
int ConnectLocal(int port);

// Sends raw bytes to 127.0.0.1:port and returns the server's answer, read
// until one complete response (Content-Length body) or EOF; empty on
// connect failure. With `close_early`, closes right after sending.
std::string RawHttp(int port, const std::string& request, bool close_early);

}  // namespace infernum::router::testing
