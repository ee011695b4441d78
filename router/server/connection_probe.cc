#include "router/server/connection_probe.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdlib>

namespace infernum::router {
namespace {

// Numeric host and port of a socket address, formatted like cpp-httplib.
bool Describe(const sockaddr_storage& addr, socklen_t len, std::string* ip,
              int* port) {
  if (addr.ss_family == AF_INET) {
    *port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    *port = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  } else {
    return false;
  }
  std::array<char, NI_MAXHOST> host{};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host.data(),
                  host.size(), nullptr, 0, NI_NUMERICHOST) != 0) {
    return false;
  }
  *ip = host.data();
  return true;
}

bool Matches(int fd, const std::string& local_ip, int local_port,
             const std::string& remote_ip, int remote_port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  std::string ip;
  int port = 0;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      !Describe(addr, len, &ip, &port) || port != local_port ||
      ip != local_ip) {
    return false;
  }
  len = sizeof(addr);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
         Describe(addr, len, &ip, &port) && port == remote_port &&
         ip == remote_ip;
}

}  // namespace

ConnectionProbe::ConnectionProbe(const std::string& local_ip, int local_port,
                                 const std::string& remote_ip,
                                 int remote_port) {
  if (local_port <= 0 || remote_port <= 0) return;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (Matches(static_cast<int>(fd), local_ip, local_port, remote_ip,
                remote_port)) {
      fd_ = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
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
