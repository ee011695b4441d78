// A small HTTP server (cpp-httplib) that serves a metrics::Registry on
// GET /metrics, on its own thread; every other path answers 404.
//
//   auto http = MetricsHttpServer::Start("0.0.0.0:9090", &registry);
//   ... (*http)->port() ...
//   (*http)->Stop();  // or let the destructor do it
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace infernum::worker {

class MetricsHttpServer {
 public:
  // Binds `listen` ("host:port" or "[v6]:port"; port 0 picks a free port)
  // and starts serving. `registry` must outlive the server. Errors:
  // InvalidArgument for a malformed address, Unavailable if it cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, const metrics::Registry* registry);

  ~MetricsHttpServer();  // Stop()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Stops serving and joins the thread. Idempotent; not concurrently with
  // itself.
  void Stop();

  int port() const { return port_; }
  // host:port with the bound port (host as given).
  const std::string& address() const { return address_; }

 private:
  MetricsHttpServer();

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> serve_returned_{false};
  int port_ = 0;
  std::string address_;
};

}  // namespace infernum::worker
