// Test-only: a complete router (WorkerPool + ApiService + HttpServer) on a
// free localhost port, plus small HTTP/SSE client helpers.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "router/server/api_service.h"
#include "router/server/http_server.h"
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
  };

  // Polls the workers once, then serves. CHECK-fails if it cannot bind.
  explicit RouterHarness(Options options);
  ~RouterHarness();

  int port() const { return port_; }
  std::unique_ptr<httplib::Client> Client() const;
  WorkerPool& pool() { return *pool_; }

  // POST with Content-Type: application/json.
  httplib::Result PostJson(const std::string& path,
                           const std::string& body) const;

  // Waits until `n` workers are healthy (or the timeout passes).
  bool WaitHealthy(int n, absl::Duration timeout) const;

 private:
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<ApiService> service_;
  std::unique_ptr<HttpServer> server_;
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
