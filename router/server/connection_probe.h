// Finds an HTTP connection's socket and detects that its client hung up
// while a request (or the wait for a stream's first tokens) is still being
// served.
//
// cpp-httplib 0.11 gives handlers no access to the connection's socket, so
// SocketFinder finds it by its address 4-tuple among this process's open
// file descriptors (Linux /proc/self/fd). The socket stays open until the
// request's response (a streamed body included) has been written, so the
// descriptor cannot be reused while the request uses it.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

namespace infernum::router {

// Remembers where each connection's socket was found, so later requests on
// a keep-alive connection cost one check (two syscalls) instead of a scan
// of every open descriptor (two syscalls per descriptor). Thread-safe.
class SocketFinder {
 public:
  // The descriptor of the TCP connection between the given addresses
  // (numeric host and port, as cpp-httplib reports them), or -1 when it is
  // not found.
  int Find(const std::string& local_ip, int local_port,
           const std::string& remote_ip, int remote_port);

  // Scans /proc/self/fd without the cache (what Find does on a miss).
  static int Scan(const std::string& local_ip, int local_port,
                  const std::string& remote_ip, int remote_port);

 private:
  // Stale entries (closed connections) are dropped when checked; the map
  // is cleared when it grows past this.
  static constexpr size_t kMaxEntries = 1 << 14;
  std::mutex mu_;
  std::unordered_map<std::string, int> fds_;  // 4-tuple -> descriptor.
};

class ConnectionProbe {
 public:
  // `fd`: the connection's socket (SocketFinder), or -1; a probe without a
  // socket reports "connected" forever.
  explicit ConnectionProbe(int fd) : fd_(fd) {}
  // Finds the socket with SocketFinder::Scan.
  ConnectionProbe(const std::string& local_ip, int local_port,
                  const std::string& remote_ip, int remote_port)
      : fd_(SocketFinder::Scan(local_ip, local_port, remote_ip, remote_port)) {}

  bool found() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // False once the peer closed or reset the connection. Never blocks; does
  // not consume data.
  bool PeerConnected() const;

 private:
  int fd_ = -1;
};

}  // namespace infernum::router
