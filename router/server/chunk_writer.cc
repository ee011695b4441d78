#include "router/server/chunk_writer.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "absl/time/clock.h"

namespace infernum::router {

void ChunkWriter::Frame(std::string_view data, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char size[2 * sizeof(size_t)];
  int n = 0;
  size_t v = data.size();
  do {
    size[n++] = kHex[v & 0xF];
    v >>= 4;
  } while (v != 0);
  out->clear();
  out->reserve(n + data.size() + 4);
  while (n > 0) out->push_back(size[--n]);
  out->append("\r\n");
  out->append(data);
  out->append("\r\n");
}

bool ChunkWriter::Write(std::string_view data) {
  if (failed_) return false;
  if (data.empty()) return true;
  Frame(data, &buf_);
  if (!SendAll()) failed_ = true;
  return !failed_;
}

bool ChunkWriter::SendAll() {
  size_t sent = 0;
  absl::Time deadline = absl::InfiniteFuture();  // Set at the first wait.
  while (sent < buf_.size()) {
    const ssize_t n = send(fd_, buf_.data() + sent, buf_.size() - sent,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      deadline = absl::InfiniteFuture();  // Progress: a new wait may start.
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
    // The socket buffer is full: wait until the client reads.
    if (deadline == absl::InfiniteFuture()) deadline = absl::Now() + timeout_;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
    const int ms = static_cast<int>(
        std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    const int r = poll(&p, 1, ms);
    if (r < 0 && errno != EINTR) return false;
    if (r > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) return false;
  }
  return true;
}

}  // namespace infernum::router
