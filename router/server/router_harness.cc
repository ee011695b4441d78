#include "router/server/router_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "common/logging.h"

namespace infernum::router::testing {

RouterHarness::RouterHarness(Options options) {
  RouterConfig config;
  config.listen = {"127.0.0.1", 0};
  config.workers = options.workers;
  config.max_body_bytes = options.max_body_bytes;
  config.max_tokens_cap = options.max_tokens_cap;
  config.request_timeout_s = absl::ToDoubleSeconds(options.request_timeout);
  config.refresh_interval_s = absl::ToDoubleSeconds(options.refresh_interval);
  config.model_info_timeout_s = 10;
  config.http_threads = options.http_threads;
  config.system_fingerprint = "fp_test";
  config.access_log = options.access_log_sink != nullptr;
  if (options.configure) options.configure(config);
  RouterApp::Overrides overrides;
  overrides.api_key_env_value = options.api_key_env_value.value_or("");
  overrides.access_log_sink = std::move(options.access_log_sink);
  overrides.min_http_threads = 2;
  absl::StatusOr<std::unique_ptr<RouterApp>> app =
      RouterApp::Create(config, std::move(overrides));
  CHECK(app.ok()) << app.status().ToString();
  app_ = std::move(*app);
  absl::StatusOr<int> port = app_->Start();
  CHECK(port.ok()) << port.status().ToString();
  port_ = *port;
  serve_thread_ = std::thread([this] { app_->Serve(); });
}

RouterHarness::~RouterHarness() {
  Shutdown(absl::ZeroDuration());
  app_.reset();
}

void RouterHarness::Shutdown(absl::Duration grace) {
  app_->Shutdown(grace);
  if (serve_thread_.joinable()) serve_thread_.join();
}

std::unique_ptr<httplib::Client> RouterHarness::Client() const {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port_);
  client->set_read_timeout(60, 0);
  return client;
}

httplib::Result RouterHarness::PostJson(const std::string& path,
                                        const std::string& body,
                                        const httplib::Headers& headers) const {
  return Client()->Post(path.c_str(), headers, body, "application/json");
}

bool RouterHarness::WaitHealthy(int n, absl::Duration timeout) const {
  const absl::Time until = absl::Now() + timeout;
  while (app_->pool().registry().num_healthy() < n) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

std::vector<std::string> SseEvents(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string event = body.substr(pos, end - pos);
    if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

namespace {

// True once `data` holds a whole response with a Content-Length body.
bool ResponseComplete(const std::string& data) {
  const size_t header_end = data.find("\r\n\r\n");
  if (header_end == std::string::npos) return false;
  const std::string lower = absl::AsciiStrToLower(data.substr(0, header_end));
  const size_t cl = lower.find("content-length:");
  if (cl == std::string::npos) return false;
  const size_t length = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
  return data.size() >= header_end + 4 + length;
}

}  // namespace

int ConnectLocal(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string RawHttp(int port, const std::string& request, bool close_early) {
  const int fd = ConnectLocal(port);
  if (fd < 0) return "";
  std::string out;
  {
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n =
          send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    timeval tv{.tv_sec = 30, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    ssize_t n;
    while (!close_early && !ResponseComplete(out) &&
           (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

}  // namespace infernum::router::testing
