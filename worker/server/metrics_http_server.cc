#include "worker/server/metrics_http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace infernum::worker {
namespace {

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  HostPort out;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &out.port) || out.port < 0 ||
      out.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics_listen: expected host:port (port 0..65535), got '", listen,
        "'"));
  }
  out.host = listen.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' &&
      out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  return out;
}

}  // namespace

MetricsHttpServer::MetricsHttpServer()
    : server_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, const metrics::Registry* registry) {
  absl::StatusOr<HostPort> hp = ParseListen(listen);
  if (!hp.ok()) return hp.status();
  std::unique_ptr<MetricsHttpServer> out(new MetricsHttpServer());
  httplib::Server& server = *out->server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind
  // the same port and silently share it; SO_REUSEADDR alone only allows a
  // restart while old connections are in TIME_WAIT.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.Get(
      "/metrics", [registry](const httplib::Request&, httplib::Response& res) {
        res.set_content(registry->Render(), std::string(metrics::kContentType));
      });
  if (hp->port == 0) {
    out->port_ = server.bind_to_any_port(hp->host);
  } else if (server.bind_to_port(hp->host, hp->port)) {
    out->port_ = hp->port;
  }
  if (out->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics_listen: cannot listen on ", listen));
  }
  out->address_ =
      absl::StrCat(listen.substr(0, listen.rfind(':')), ":", out->port_);
  MetricsHttpServer* raw = out.get();
  out->thread_ = std::thread([raw] {
    raw->server_->listen_after_bind();
    raw->serve_returned_ = true;
  });
  return out;
}

void MetricsHttpServer::Stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() is a no-op until the thread has entered its accept
  // loop, so repeat it until the loop has returned.
  while (!serve_returned_) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  thread_.join();
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

}  // namespace infernum::worker
