// Writes the chunks of an HTTP/1.1 chunked response body straight to the
// connection's socket: "<hex size>\r\n<data>\r\n", the bytes cpp-httplib's
// DataSink::write sends for an uncompressed body (SSE is never compressed),
// in one send() per chunk. cpp-httplib 0.11 checks the socket with two
// poll() calls before every write; for a stream of one-token SSE events
// those checks are most of the router's syscalls per token.
//
// The caller owns the socket (it must stay open while the writer is used)
// and ends the body as before (DataSink::done() sends "0\r\n\r\n").
// Not thread-safe; one per response.
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace infernum::router {

class ChunkWriter {
 public:
  // `fd`: a connected stream socket. A write that cannot make progress for
  // `timeout` (the client stopped reading) fails.
  ChunkWriter(int fd, absl::Duration timeout) : fd_(fd), timeout_(timeout) {}

  // Sends `data` as one chunk (nothing for empty data: an empty chunk
  // would end the body). False once a write failed (peer gone, reset,
  // timeout); every later call then fails at once.
  bool Write(std::string_view data);

  // Frames `data` as a chunk into `out` (replacing its contents).
  static void Frame(std::string_view data, std::string* out);

 private:
  // Sends all of buf_; false on an error or timeout.
  bool SendAll();

  int fd_;
  absl::Duration timeout_;
  bool failed_ = false;
  std::string buf_;  // Reused across chunks.
};

}  // namespace infernum::router
