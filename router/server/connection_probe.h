// Detects that an HTTP client hung up while its non-streaming request (or
// the wait for a stream's first tokens) is still being served.
//
// cpp-httplib 0.11 gives handlers no access to the connection's socket, so
// the probe finds it by its address 4-tuple among this process's open file
// descriptors (Linux /proc/self/fd; once per request). The socket stays
// open until the handler returns, so the descriptor cannot be reused while
// the probe is in use. Once streaming has started, DataSink::is_writable()
// does the same job.
#pragma once

#include <string>

namespace infernum::router {

class ConnectionProbe {
 public:
  // Addresses as cpp-httplib reports them (numeric host, port). When the
  // socket is not found the probe reports "connected" forever.
  ConnectionProbe(const std::string& local_ip, int local_port,
                  const std::string& remote_ip, int remote_port);

  bool found() const { return fd_ >= 0; }

  // False once the peer closed or reset the connection. Never blocks; does
  // not consume data.
  bool PeerConnected() const;

 private:
  int fd_ = -1;
};

}  // namespace infernum::router
