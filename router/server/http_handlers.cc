// HttpServer's routes and request handlers (the lifecycle is in
// http_server.cc).
#include <httplib.h>

#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "router/api/errors.h"
#include "router/server/chunk_writer.h"
#include "router/server/connection_probe.h"
#include "router/server/http_server.h"
#include "router/server/http_server_internal.h"
#include "router/server/http_util.h"
#include "router/server/request_scope.h"

namespace infernum::router {

bool HttpServer::Gate(const httplib::Request& req, httplib::Response& res,
                      Access access, bool refuse_when_draining) {
  if (refuse_when_draining && draining_.load()) {
    res.set_header("Connection", "close");
    SendError(res, ErrorKind::kServiceUnavailable,
              "the router is shutting down");
    if (hooks_.metrics != nullptr) hooks_.metrics->CountRejected("draining");
    return false;
  }
  const bool needs_key =
      access == Access::kKey ||
      (access == Access::kMetrics && options_.metrics_require_auth);
  if (needs_key && hooks_.auth != nullptr &&
      !hooks_.auth->Allows(req.get_header_value("Authorization"))) {
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(UnauthorizedBody(req.has_header("Authorization")),
                    kJsonContentType);
    if (hooks_.metrics != nullptr) hooks_.metrics->CountRejected("auth");
    return false;
  }
  return true;
}

std::shared_ptr<HttpServer::Exchange> HttpServer::NewExchange(
    const httplib::Request& req, const httplib::Response& res,
    bool generation) {
  return std::make_shared<Exchange>(
      active_.get(),
      RequestObservers{.access_log = hooks_.access_log,
                       .metrics = hooks_.metrics},
      res.get_header_value(kRequestIdHeader), req, generation);
}

// Non-streaming responses: status + JSON (+ Retry-After).
void HttpServer::SendSimple(const ApiResponse& api, httplib::Response& res) {
  res.status = api.status;
  res.set_content(api.body, kJsonContentType);
  if (api.retry_after_s > 0) {
    res.set_header("Retry-After", std::to_string(api.retry_after_s));
  }
}

// Streaming: a chunk provider that runs the GenerationRun on the
// connection's thread. The exchange (slot, run, scope) lives until the
// provider is done with it, or the response is dropped.
void HttpServer::SendGeneration(std::shared_ptr<Exchange> ex,
                                httplib::Response& res) {
  ex->scope.set_status(ex->api.status);
  if (ex->api.stream == nullptr) {
    SendSimple(ex->api, res);
    return;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream", [this, ex](size_t, httplib::DataSink& sink) {
        if (ex->api.stream == nullptr) return false;  // Already streamed.
        // Chunks go straight to the socket when it is known: cpp-httplib's
        // DataSink polls the socket twice before every write.
        std::optional<ChunkWriter> direct;
        if (ex->socket_fd >= 0) {
          direct.emplace(ex->socket_fd, absl::Seconds(kWriteTimeoutSec));
        }
        const ConnectionProbe probe(ex->socket_fd);
        auto write = [&ex, &sink, &direct](std::string_view data) {
          if (data.rfind("data: {\"error\"", 0) == 0) {
            ex->scope.set_error("stream_error");
          }
          const bool ok = direct.has_value()
                              ? direct->Write(data)
                              : sink.write(data.data(), data.size());
          if (ok) ex->scope.OnStreamWrite();
          return ok;
        };
        auto connected = [this, &sink, &probe] {
          return Connected() &&
                 (probe.found() ? probe.PeerConnected() : sink.is_writable());
        };
        bool ok = false;
        try {  // Nothing may escape into cpp-httplib's writer.
          ok = ex->api.stream->Stream(write, connected);
        } catch (const std::exception& e) {
          LOG(ERROR) << "exception while streaming: " << e.what();
        }
        if (!ok) {
          ex->scope.set_error(Connected() ? "client_disconnected" : "shutdown");
        }
        // The stream is over: free the slot and the worker streams, and
        // record the request, before the client sees the end of the body.
        ex->scope.set_completion_tokens(
            ex->api.stream->usage().completion_tokens);
        ex->scope.set_workers(ex->api.stream->workers_used());
        ex->api.stream.reset();
        ex->api.slot.Release();
        ex->scope.Finish();
        if (ok) sink.done();
        return ok;
      });
}

void HttpServer::HandlePost(bool chat, const httplib::Request& req,
                            httplib::Response& res,
                            const httplib::ContentReader& reader) {
  std::shared_ptr<Exchange> ex = NewExchange(req, res, /*generation=*/true);
  std::string body;
  if (!Gate(req, res, Access::kKey, /*refuse_when_draining=*/true)) {
    DiscardBody(req, res, reader, options_.max_body_bytes);
    ex->scope.set_status(res.status);
    return;
  }
  if (!ReadBody(req, res, reader, &body)) {
    ex->scope.set_status(res.status);
    return;
  }
  ex->socket_fd = sockets_.Find(req.local_addr, req.local_port, req.remote_addr,
                                req.remote_port);
  const ConnectionProbe probe(ex->socket_fd);
  const ConnectionCheck connected = [this, &probe] {
    return Connected() && probe.PeerConnected();
  };
  ex->api = chat ? service_->ChatCompletions(body, connected)
                 : service_->Completions(body, connected);
  if (!Connected() && ex->api.stream == nullptr && ex->api.status == 499) {
    ex->api = ApiService::Error(MakeApiError(ErrorKind::kServiceUnavailable,
                                             "the router is shutting down"));
  }
  if (!ex->api.rejected.empty() && hooks_.metrics != nullptr) {
    hooks_.metrics->CountRejected(ex->api.rejected);
  }
  ex->scope.SetInfo(ex->api.info);
  SendGeneration(std::move(ex), res);
}

bool HttpServer::ReadBody(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader,
                          std::string* body) {
  const ReadOutcome outcome =
      ReadLimitedBody(req, res, reader, options_.max_body_bytes, body);
  switch (outcome) {
    case ReadOutcome::kOk:
      return true;
    case ReadOutcome::kTooLarge:
      res.set_header("Connection", "close");
      SendError(res, ErrorKind::kRequestTooLarge,
                absl::StrCat("the request body exceeds the limit of ",
                             options_.max_body_bytes, " bytes"));
      return false;
    case ReadOutcome::kReadError:
      res.set_header("Connection", "close");
      SendError(res, ErrorKind::kInvalidRequest,
                "could not read the request body");
      return false;
    case ReadOutcome::kNotJson:
      SendError(res, ErrorKind::kInvalidRequest,
                "Content-Type must be application/json");
      return false;
  }
  return false;
}

void HttpServer::RegisterRoutes() {
  using httplib::ContentReader;
  using httplib::Request;
  using httplib::Response;
  for (bool chat : {true, false}) {
    server_->Post(chat ? "/v1/chat/completions" : "/v1/completions",
                  [this, chat](const Request& req, Response& res,
                               const ContentReader& reader) {
                    HandlePost(chat, req, res, reader);
                  });
  }
  server_->Get("/v1/models", [this](const Request& req, Response& res) {
    auto ex = NewExchange(req, res, /*generation=*/false);
    if (Gate(req, res, Access::kKey, /*refuse_when_draining=*/true)) {
      SendSimple(service_->Models(), res);
    }
    ex->scope.set_status(res.status);
  });
  auto not_allowed = [this](Access access) {
    return [this, access](const Request& req, Response& res) {
      auto ex = NewExchange(req, res, /*generation=*/false);
      if (Gate(req, res, access, /*refuse_when_draining=*/false)) {
        SendError(res, ErrorKind::kMethodNotAllowed,
                  absl::StrCat("method ", req.method, " is not allowed on ",
                               req.path));
      }
      ex->scope.set_status(res.status);
    };
  };
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    server_->Get(path, not_allowed(Access::kKey));
  }
  server_->Post("/v1/models", not_allowed(Access::kKey));
  for (const char* path : {"/health", "/live", "/ready"}) {
    server_->Post(path, not_allowed(Access::kOpen));
  }
  if (hooks_.metrics != nullptr) {
    server_->Post("/metrics", not_allowed(Access::kMetrics));
  }
  RegisterProbes();
  server_->set_pre_routing_handler([this](const Request& req, Response& res) {
    std::string id = SanitizeRequestId(req.get_header_value(kRequestIdHeader));
    res.set_header(kRequestIdHeader, id.empty() ? request_ids_.Next() : id);
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const Request& req, Response& res) {
        if (!res.has_header(kRequestIdHeader)) {
          res.set_header(kRequestIdHeader, request_ids_.Next());
        }
        if (!FillLibraryError(req, res)) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        // Only the library's own errors get here: log them.
        RequestScope scope(RequestObservers{.access_log = hooks_.access_log},
                           res.get_header_value(kRequestIdHeader), req.method,
                           req.path, /*generation=*/false);
        scope.set_status(res.status);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server_->set_exception_handler(HandlerException);
}

// Probes and /metrics: never logged, never refused while draining.
void HttpServer::RegisterProbes() {
  using httplib::Request;
  using httplib::Response;
  server_->Get("/live", [](const Request&, Response& res) {
    res.set_content(R"({"status":"live"})", kJsonContentType);
  });
  server_->Get("/ready", [this](const Request&, Response& res) {
    if (draining_.load()) {
      SendError(res, ErrorKind::kServiceUnavailable,
                "not ready: the router is shutting down");
      return;
    }
    SendSimple(service_->Ready(), res);
  });
  server_->Get("/health", [this](const Request&, Response& res) {
    SendSimple(service_->Health(), res);
  });
  if (hooks_.metrics != nullptr) {
    server_->Get("/metrics", [this](const Request& req, Response& res) {
      if (!Gate(req, res, Access::kMetrics, /*refuse_when_draining=*/false)) {
        return;
      }
      res.set_content(hooks_.metrics->Render(),
                      std::string(metrics::kContentType));
    });
  }
}

}  // namespace infernum::router
