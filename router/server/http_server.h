// The HTTP front end (cpp-httplib): routes, request body limits, content
// type checks, JSON error bodies for every failure (including the library's
// own 400/404/413) and SSE streaming with disconnect detection. All API
// logic lives in ApiService.
//
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
// GET /health (other methods on these paths: 405; other paths: 404).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "router/server/api_service.h"
#include "router/server/config.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
class Server;
}  // namespace httplib

namespace infernum::router {

class HttpServer {
 public:
  struct Options {
    HostPort listen;
    int64_t max_body_bytes = int64_t{4} << 20;
    int num_threads = 128;  // Connections served at once.
  };

  // `service` must outlive the server.
  HttpServer(ApiService* service, Options options);
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listen address; returns the bound port (the chosen one when
  // the configured port is 0).
  absl::StatusOr<int> Bind();

  // Serves until Stop(); call after Bind(). Blocks.
  void Serve();

  // Stops accepting, cancels in-flight generations (their worker streams
  // are cancelled) and makes Serve() return. Thread-safe, idempotent.
  void Stop();

 private:
  void RegisterRoutes();
  // POST /v1/chat/completions (chat) or /v1/completions.
  void HandlePost(bool chat, const httplib::Request& req,
                  httplib::Response& res, const httplib::ContentReader& reader);
  // Reads the body within max_body_bytes and checks the Content-Type; on
  // failure fills `res` with the error (413 / 400) and returns false.
  bool ReadBody(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader, std::string* body);
  void Send(const ApiResponse& api, httplib::Response& res);
  bool Connected() const { return !stopping_.load(); }

  ApiService* service_;
  Options options_;
  std::unique_ptr<httplib::Server> server_;
  std::atomic<bool> stopping_{false};
};

}  // namespace infernum::router
