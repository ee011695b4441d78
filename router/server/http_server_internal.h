// Internal to router/server/http_server*.cc: the private helper classes of
// HttpServer, shared by its lifecycle (http_server.cc) and its route
// handlers (http_handlers.cc). Not for other callers.
#pragma once

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "router/server/api_service.h"
#include "router/server/http_server.h"
#include "router/server/request_scope.h"

namespace infernum::router {

inline constexpr char kRequestIdHeader[] = "x-request-id";
// cpp-httplib's write timeout, also used by ChunkWriter.
inline constexpr int kWriteTimeoutSec = 30;

// cpp-httplib's Server with a finer stop than stop(), which marks the
// server as shutting down at once: then a response whose headers are out
// but whose chunked provider has not run yet ends without its body.
class HttpServer::Library : public httplib::Server {
 public:
  int listen_socket() const { return svr_sock_; }
  // Wakes the accept loop (accept() fails on a shut down listener); the
  // loop then closes the socket and ends. Open connections keep going.
  void ShutdownListener() { ::shutdown(svr_sock_, SHUT_RDWR); }
  // Makes keep-alive loops and chunked writers stop. With `close_socket`,
  // also closes the listening socket (when no accept loop will).
  void MarkStopped(bool close_socket) {
    const int fd = svr_sock_.exchange(INVALID_SOCKET);
    if (close_socket && fd != INVALID_SOCKET) ::close(fd);
  }
};

// Requests in progress, for the drain.
class HttpServer::ActiveCount {
 public:
  class Guard {
   public:
    explicit Guard(ActiveCount* count) : count_(count) { count_->Add(1); }
    ~Guard() { count_->Add(-1); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    ActiveCount* count_;
  };

  int value() const {
    std::lock_guard<std::mutex> lock(mu_);
    return n_;
  }
  // True when the count reached 0 within `timeout`.
  bool WaitForZero(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [this] { return n_ == 0; });
  }

 private:
  void Add(int d) {
    std::lock_guard<std::mutex> lock(mu_);
    n_ += d;
    if (n_ == 0) cv_.notify_all();
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

// One request from the handler to the end of its response. Members are
// destroyed bottom-up: the API response (admission slot, worker streams)
// first, then the scope (access log, metrics), then the active count.
struct HttpServer::Exchange {
  Exchange(ActiveCount* count, const RequestObservers& observers,
           std::string request_id, const httplib::Request& req, bool generation)
      : active(count),
        scope(observers, std::move(request_id), req.method, req.path,
              generation) {}
  ActiveCount::Guard active;
  RequestScope scope;
  ApiResponse api;
  // The connection's socket (SocketFinder), or -1: open until the response,
  // a streamed body included, has been written.
  int socket_fd = -1;
};

}  // namespace infernum::router
