#include "router/server/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "router/server/http_server_internal.h"
#include "router/server/http_task_queue.h"

namespace infernum::router {

HttpServer::HttpServer(ApiService* service, Options options, Hooks hooks)
    : service_(service),
      options_(std::move(options)),
      hooks_(hooks),
      server_(std::make_unique<Library>()),
      active_(std::make_unique<ActiveCount>()) {
  const ElasticTaskQueue::Options pool{.min_threads = options_.min_threads,
                                       .max_threads = options_.num_threads};
  server_->new_task_queue = [this, pool] {
    ElasticTaskQueue::Options o = pool;
    o.on_shutdown = [this] { AcceptLoopEnded(); };
    return new ElasticTaskQueue(std::move(o));
  };
  server_->set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  server_->set_keep_alive_max_count(1000);
  // SSE chunks are small writes: without TCP_NODELAY, Nagle plus delayed ACKs
  // hold each one back ~40 ms on a reused connection.
  server_->set_tcp_nodelay(true);
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(kWriteTimeoutSec, 0);
  RegisterRoutes();
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Bind() {
  const HostPort& l = options_.listen;
  int port = 0;
  if (l.port == 0) {
    port = server_->bind_to_any_port(l.host);
  } else if (server_->bind_to_port(l.host, l.port)) {
    port = l.port;
  }
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", l.host, ":", l.port));
  }
  // listen() again on a listening socket only changes its backlog (Linux).
  if (::listen(server_->listen_socket(), options_.listen_backlog) != 0) {
    LOG(WARNING) << "could not raise the listen backlog to "
                 << options_.listen_backlog;
  }
  return port;
}

int HttpServer::ListenBacklog() const {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(server_->listen_socket(), IPPROTO_TCP, TCP_INFO, &info,
                 &len) != 0) {
    return -1;
  }
  return static_cast<int>(info.tcpi_sacked);  // Listeners: max backlog.
}

void HttpServer::Serve() {
  {
    std::lock_guard<std::mutex> lock(listen_mu_);
    if (listener_ != Listener::kBound) {  // Shut down before it started.
      if (listener_ == Listener::kStopped) server_->MarkStopped(true);
      listener_ = Listener::kClosed;
      return;
    }
    listener_ = Listener::kAccepting;
  }
  server_->listen_after_bind();
}

void HttpServer::AcceptLoopEnded() {
  std::lock_guard<std::mutex> lock(listen_mu_);
  accept_loop_ended_ = true;
  listen_cv_.notify_all();
}

void HttpServer::StopAccepting() {
  std::lock_guard<std::mutex> lock(listen_mu_);
  if (listener_ == Listener::kBound) {
    listener_ = Listener::kStopped;  // Serve() will not listen.
  } else if (listener_ == Listener::kAccepting && !accept_loop_ended_) {
    server_->ShutdownListener();
    listener_ = Listener::kDraining;
  }
}

void HttpServer::EndConnections() {
  std::unique_lock<std::mutex> lock(listen_mu_);
  if (listener_ == Listener::kStopped) {  // Never served: close it here.
    server_->MarkStopped(true);
    listener_ = Listener::kClosed;
    return;
  }
  if (listener_ == Listener::kAccepting || listener_ == Listener::kDraining) {
    // The accept loop closes the socket before it ends; only then may the
    // socket be marked invalid (or the loop would leak it).
    listen_cv_.wait_for(lock, std::chrono::seconds(5),
                        [this] { return accept_loop_ended_; });
    server_->MarkStopped(false);
  }
}

void HttpServer::Shutdown(absl::Duration grace) {
  const bool first = !draining_.exchange(true);
  StopAccepting();
  if (first && grace > absl::ZeroDuration()) {
    LOG(INFO) << "draining: " << active_->value()
              << " request(s) in progress, grace " << grace;
  }
  if (!active_->WaitForZero(grace) && grace > absl::ZeroDuration()) {
    LOG(WARNING) << active_->value()
                 << " request(s) still open after the grace period: "
                    "cancelling them";
  }
  stopping_.store(true);
  EndConnections();
}

int HttpServer::num_active_requests() const { return active_->value(); }

}  // namespace infernum::router
