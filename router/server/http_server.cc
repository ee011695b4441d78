#include "router/server/http_server.h"

#include <httplib.h>

#include <exception>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "router/api/errors.h"
#include "router/server/connection_probe.h"

namespace infernum::router {
namespace {

constexpr char kJson[] = "application/json";

// True for "application/json" with optional parameters (charset).
bool IsJsonContentType(const std::string& value) {
  const std::string media = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(value.substr(0, value.find(';'))));
  return media == kJson;
}

void SendError(httplib::Response& res, ErrorKind kind, std::string message) {
  const ApiError error{.kind = kind, .message = std::move(message)};
  res.status = error.info().http_status;
  res.set_content(ErrorBodyJson(error), kJson);
}

// JSON body for errors produced by cpp-httplib itself (bad request line,
// payload too large, unknown path, ...).
ErrorKind KindForStatus(int status) {
  switch (status) {
    case 400:
      return ErrorKind::kInvalidRequest;
    case 404:
      return ErrorKind::kNotFound;
    case 405:
      return ErrorKind::kMethodNotAllowed;
    case 413:
    case 414:
      return ErrorKind::kRequestTooLarge;
    case 503:
      return ErrorKind::kServiceUnavailable;
    default:
      return status < 500 ? ErrorKind::kInvalidRequest : ErrorKind::kInternal;
  }
}

// Error handler: a JSON body for errors cpp-httplib produced on its own.
httplib::Server::HandlerResponse LibraryError(const httplib::Request& req,
                                              httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  const int status = res.status;
  std::string message =
      status == 404
          ? absl::StrCat("no route for ", req.method, " ", req.path)
          : absl::StrCat("the request failed with HTTP status ", status);
  SendError(res, KindForStatus(status), std::move(message));
  res.status = status;  // Keep the library's status (e.g. 414).
  return httplib::Server::HandlerResponse::Handled;
}

void HandlerException(const httplib::Request&, httplib::Response& res,
                      std::exception_ptr ep) {
  std::string what = "unknown exception";
  try {
    if (ep) std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  LOG(ERROR) << "exception in a request handler: " << what;
  SendError(res, ErrorKind::kInternal, "internal error");
}

}  // namespace

HttpServer::HttpServer(ApiService* service, Options options)
    : service_(service),
      options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {
  const int threads = options_.num_threads;
  server_->new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server_->set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  server_->set_keep_alive_max_count(1000);
  // SSE chunks are small writes: without TCP_NODELAY, Nagle plus delayed ACKs
  // hold each one back ~40 ms on a reused connection.
  server_->set_tcp_nodelay(true);
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(30, 0);
  RegisterRoutes();
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Bind() {
  const HostPort& l = options_.listen;
  if (l.port == 0) {
    const int port = server_->bind_to_any_port(l.host);
    if (port > 0) return port;
  } else if (server_->bind_to_port(l.host, l.port)) {
    return l.port;
  }
  return absl::UnavailableError(
      absl::StrCat("cannot listen on ", l.host, ":", l.port));
}

void HttpServer::Serve() { server_->listen_after_bind(); }

void HttpServer::Stop() {
  stopping_.store(true);
  server_->stop();
}

// Non-streaming: status + JSON. Streaming: a chunk provider that runs the
// GenerationRun on the connection's thread.
void HttpServer::Send(const ApiResponse& api, httplib::Response& res) {
  if (api.stream == nullptr) {
    res.status = api.status;
    res.set_content(api.body, kJson);
    return;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  std::shared_ptr<GenerationRun> run = api.stream;
  res.set_chunked_content_provider(
      "text/event-stream", [this, run](size_t, httplib::DataSink& sink) {
        bool ok = false;
        try {  // Nothing may escape into cpp-httplib's writer.
          ok = run->Stream(
              [&sink](std::string_view data) {
                return sink.write(data.data(), data.size());
              },
              [this, &sink] { return Connected() && sink.is_writable(); });
        } catch (const std::exception& e) {
          LOG(ERROR) << "exception while streaming: " << e.what();
        }
        if (ok) sink.done();
        return ok;
      });
}

bool HttpServer::ReadBody(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader,
                          std::string* body) {
  bool too_large = false;
  auto receive = [&](const char* data, size_t n) {
    if (body->size() + n > static_cast<size_t>(options_.max_body_bytes)) {
      too_large = true;
      return false;
    }
    body->append(data, n);
    return true;
  };
  const bool multipart = req.is_multipart_form_data();
  const bool read_ok =
      multipart ? reader([](const httplib::MultipartFormData&) { return true; },
                         receive)
                : reader(receive);
  if (!read_ok) {
    res.set_header("Connection", "close");
    if (too_large || res.status == 413) {
      SendError(res, ErrorKind::kRequestTooLarge,
                absl::StrCat("the request body exceeds the limit of ",
                             options_.max_body_bytes, " bytes"));
    } else {
      SendError(res, ErrorKind::kInvalidRequest,
                "could not read the request body");
    }
    return false;
  }
  if (multipart || !IsJsonContentType(req.get_header_value("Content-Type"))) {
    SendError(res, ErrorKind::kInvalidRequest,
              "Content-Type must be application/json");
    return false;
  }
  return true;
}

void HttpServer::HandlePost(bool chat, const httplib::Request& req,
                            httplib::Response& res,
                            const httplib::ContentReader& reader) {
  std::string body;
  if (!ReadBody(req, res, reader, &body)) return;
  const ConnectionProbe probe(req.local_addr, req.local_port, req.remote_addr,
                              req.remote_port);
  const ConnectionCheck connected = [this, &probe] {
    return Connected() && probe.PeerConnected();
  };
  Send(chat ? service_->ChatCompletions(body, connected)
            : service_->Completions(body, connected),
       res);
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
  server_->Get("/v1/models", [this](const Request&, Response& res) {
    Send(service_->Models(), res);
  });
  server_->Get("/health", [this](const Request&, Response& res) {
    Send(service_->Health(), res);
  });
  auto not_allowed = [](const Request& req, Response& res) {
    SendError(
        res, ErrorKind::kMethodNotAllowed,
        absl::StrCat("method ", req.method, " is not allowed on ", req.path));
  };
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    server_->Get(path, not_allowed);
  }
  for (const char* path : {"/v1/models", "/health"}) {
    server_->Post(path, not_allowed);
  }
  server_->set_error_handler(
      httplib::Server::HandlerWithResponse(LibraryError));
  server_->set_exception_handler(HandlerException);
}

}  // namespace infernum::router
