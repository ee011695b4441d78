// The HTTP front end (cpp-httplib): routes, API-key checks, request ids,
// request body limits, content type checks, JSON error bodies for every
// failure (including the library's own 400/404/413), SSE streaming with
// disconnect detection, probes, /metrics, access logs and graceful
// shutdown. All API logic lives in ApiService.
//
// Routes (other methods on these paths: 405; other paths: 404):
//   POST /v1/chat/completions, POST /v1/completions, GET /v1/models
//                      API key required when keys are configured
//   GET /metrics       Prometheus text; key only with metrics_require_auth
//   GET /health, GET /live, GET /ready     never need a key
// A missing or wrong key gets 401 (OpenAI shape, code invalid_api_key);
// it is checked before the method (405). Every response carries
// `x-request-id`: the client's (sanitized, see access_log.h) or a new one.
// Access log lines are written for every request except /live, /ready,
// /health and /metrics.
//
// Connections: one thread per open connection (ElasticTaskQueue), grown on
// demand up to `num_threads`; the listen backlog is raised to
// `listen_backlog` (cpp-httplib's built-in backlog is 5). SSE chunks go
// straight to the connection's socket (ChunkWriter) when it was found.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "router/server/access_log.h"
#include "router/server/api_service.h"
#include "router/server/auth.h"
#include "router/server/config.h"
#include "router/server/connection_probe.h"
#include "router/server/router_metrics.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace infernum::router {

class HttpServer {
 public:
  struct Options {
    HostPort listen;
    int64_t max_body_bytes = int64_t{4} << 20;
    int num_threads = 128;      // Most connections served at once.
    int min_threads = 8;        // Connection threads kept when idle.
    int listen_backlog = 4096;  // Capped by net.core.somaxconn.
    bool metrics_require_auth = false;
  };
  // Collaborators; each may be null (no auth / no access log / no
  // /metrics route). They must outlive the server.
  struct Hooks {
    const ApiKeyAuth* auth = nullptr;
    AccessLog* access_log = nullptr;
    RouterMetrics* metrics = nullptr;
  };

  // `service` must outlive the server.
  HttpServer(ApiService* service, Options options, Hooks hooks);
  HttpServer(ApiService* service, Options options)
      : HttpServer(service, std::move(options), Hooks()) {}
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listen address; returns the bound port (the chosen one when
  // the configured port is 0).
  absl::StatusOr<int> Bind();

  // Serves until Shutdown()/Stop(); call after Bind(). Blocks, and returns
  // once every connection thread has finished.
  void Serve();

  // Graceful shutdown: stops accepting connections, answers new requests on
  // open connections with 503 (/ready too), waits up to `grace` for the
  // requests in progress (open streams included) to finish, then cancels
  // the rest (their worker streams are cancelled). Returns after that;
  // Serve() returns once the connection threads are done. Thread-safe;
  // later calls only shorten nothing and return.
  void Shutdown(absl::Duration grace);
  // Shutdown with no grace: cancels whatever is in progress. Idempotent.
  void Stop() { Shutdown(absl::ZeroDuration()); }

  bool draining() const { return draining_.load(); }
  // Requests between the start of their handler and the end of their
  // response (streams included).
  int num_active_requests() const;
  // The listen queue length the kernel uses for the bound socket (after
  // Bind()), or -1.
  int ListenBacklog() const;

 private:
  class Library;  // httplib::Server with access to its listening socket.
  class ActiveCount;
  struct Exchange;
  enum class Access { kOpen, kKey, kMetrics };

  void RegisterRoutes();
  void RegisterProbes();
  // Drain and API-key checks. False (and `res` filled) when the request
  // must not run.
  bool Gate(const httplib::Request& req, httplib::Response& res, Access access,
            bool refuse_when_draining);
  std::shared_ptr<Exchange> NewExchange(const httplib::Request& req,
                                        const httplib::Response& res,
                                        bool generation);
  // POST /v1/chat/completions (chat) or /v1/completions.
  void HandlePost(bool chat, const httplib::Request& req,
                  httplib::Response& res, const httplib::ContentReader& reader);
  // Reads the body within max_body_bytes and checks the Content-Type; on
  // failure fills `res` with the error (413 / 400) and returns false.
  bool ReadBody(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader, std::string* body);
  void SendSimple(const ApiResponse& api, httplib::Response& res);
  void SendGeneration(std::shared_ptr<Exchange> exchange,
                      httplib::Response& res);
  // Listening socket life: see Serve(), StopAccepting(), EndConnections().
  enum class Listener { kBound, kAccepting, kDraining, kStopped, kClosed };
  void StopAccepting();    // Drain start: no new connections.
  void EndConnections();   // Hard stop: keep-alive loops end too.
  void AcceptLoopEnded();  // From the task queue's shutdown.
  bool Connected() const { return !stopping_.load(); }

  ApiService* service_;
  Options options_;
  Hooks hooks_;
  RequestIdGenerator request_ids_;
  std::unique_ptr<Library> server_;
  std::unique_ptr<ActiveCount> active_;
  SocketFinder sockets_;  // Each request's connection socket.
  std::mutex listen_mu_;  // Guards listener_ and accept_loop_ended_.
  std::condition_variable listen_cv_;
  Listener listener_ = Listener::kBound;
  bool accept_loop_ended_ = false;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
};

}  // namespace infernum::router
