#include "router/server/connection_probe.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"

namespace infernum::router {
namespace {

// Whether a socket address is ip:port (numeric host, formatted like
// cpp-httplib). The port is compared first: it is cheap and usually differs.
bool IsAddress(const sockaddr_storage& addr, socklen_t len,
               const std::string& ip, int port) {
  int actual_port = -1;
  if (addr.ss_family == AF_INET) {
    actual_port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    actual_port =
        ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  if (actual_port != port) return false;
  std::array<char, NI_MAXHOST> host{};
  return getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host.data(),
                     host.size(), nullptr, 0, NI_NUMERICHOST) == 0 &&
         ip == host.data();
}

// The peer is checked first: only the one connection passes that.
bool Matches(int fd, const std::string& local_ip, int local_port,
             const std::string& remote_ip, int remote_port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      !IsAddress(addr, len, remote_ip, remote_port)) {
    return false;
  }
  len = sizeof(addr);
  return getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
         IsAddress(addr, len, local_ip, local_port);
}

}  // namespace

int SocketFinder::Scan(const std::string& local_ip, int local_port,
                       const std::string& remote_ip, int remote_port) {
  if (local_port <= 0 || remote_port <= 0) return -1;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  std::vector<int> fds;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    fds.push_back(static_cast<int>(fd));
  }
  closedir(dir);
  // Newest first: a new connection usually has the highest descriptor
  // (the lowest free one, above the connections opened before it).
  std::sort(fds.rbegin(), fds.rend());
  for (const int fd : fds) {
    if (Matches(fd, local_ip, local_port, remote_ip, remote_port)) return fd;
  }
  return -1;
}

int SocketFinder::Find(const std::string& local_ip, int local_port,
                       const std::string& remote_ip, int remote_port) {
  if (local_port <= 0 || remote_port <= 0) return -1;
  const std::string key =
      absl::StrCat(local_ip, " ", local_port, " ", remote_ip, " ", remote_port);
  int cached = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fds_.find(key);
    if (it != fds_.end()) cached = it->second;
  }
  // A cached descriptor may have been closed and reused since: it counts
  // only while it still has this 4-tuple (which one live connection has).
  if (cached >= 0 &&
      Matches(cached, local_ip, local_port, remote_ip, remote_port)) {
    return cached;
  }
  const int fd = Scan(local_ip, local_port, remote_ip, remote_port);
  std::lock_guard<std::mutex> lock(mu_);
  if (fd < 0) {
    fds_.erase(key);
    return -1;
  }
  if (fds_.size() >= kMaxEntries) fds_.clear();
  fds_[key] = fd;
  return fd;
}

bool ConnectionProbe::PeerConnected() const {
  if (fd_ < 0) return true;
  pollfd p{.fd = fd_, .events = POLLIN | POLLRDHUP, .revents = 0};
  if (poll(&p, 1, 0) <= 0) return true;  // Nothing happened.
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return false;
  char byte;
  // Readable: either pipelined data (still connected) or EOF.
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 ||
         (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

}  // namespace infernum::router
