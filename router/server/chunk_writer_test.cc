#include "router/server/chunk_writer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace infernum::router {
namespace {

// A connected pair of stream sockets, closed at the end.
struct SocketPair {
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~SocketPair() {
    for (int& fd : fds) {
      if (fd >= 0) close(fd);
    }
  }
  void CloseReader() {
    close(fds[1]);
    fds[1] = -1;
  }
  int fds[2] = {-1, -1};
};

// Reads everything until EOF.
std::string ReadAll(int fd) {
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

// Decodes an HTTP/1.1 chunked body (without the final "0\r\n\r\n") into its
// chunks; fails the test on a framing error.
std::vector<std::string> Dechunk(const std::string& wire) {
  std::vector<std::string> chunks;
  size_t pos = 0;
  while (pos < wire.size()) {
    const size_t eol = wire.find("\r\n", pos);
    if (eol == std::string::npos) {
      ADD_FAILURE() << "no chunk size line at " << pos;
      break;
    }
    const size_t size = std::stoul(wire.substr(pos, eol - pos), nullptr, 16);
    const size_t data = eol + 2;
    if (data + size + 2 > wire.size() || wire.compare(data + size, 2, "\r\n")) {
      ADD_FAILURE() << "bad chunk of size " << size << " at " << pos;
      break;
    }
    chunks.push_back(wire.substr(data, size));
    pos = data + size + 2;
  }
  return chunks;
}

TEST(ChunkWriterTest, FramesLikeHttpChunkedEncoding) {
  for (size_t size : {1, 9, 10, 15, 16, 255, 256, 4096, 70000}) {
    const std::string data(size, 'x');
    char header[32];
    std::snprintf(header, sizeof(header), "%zx\r\n", size);
    std::string framed;
    ChunkWriter::Frame(data, &framed);
    EXPECT_EQ(framed, std::string(header) + data + "\r\n") << size;
  }
}

TEST(ChunkWriterTest, WritesEveryChunkInOrder) {
  SocketPair p;
  const std::vector<std::string> sent = {
      "data: {\"a\":1}\n\n", std::string(1, '\0'), "x",
      std::string(300000, 'y'), "data: [DONE]\n\n"};
  std::string wire;
  std::thread reader([&] { wire = ReadAll(p.fds[1]); });
  {
    ChunkWriter w(p.fds[0], absl::Seconds(30));
    for (const std::string& s : sent) EXPECT_TRUE(w.Write(s));
    EXPECT_TRUE(w.Write(""));  // Sends nothing (would end the body).
  }
  shutdown(p.fds[0], SHUT_WR);
  reader.join();
  EXPECT_EQ(Dechunk(wire), sent);
}

TEST(ChunkWriterTest, FailsOnceThePeerIsGone) {
  SocketPair p;
  p.CloseReader();
  ChunkWriter w(p.fds[0], absl::Seconds(30));
  EXPECT_FALSE(w.Write("data: 1\n\n"));  // EPIPE, and no SIGPIPE.
  EXPECT_FALSE(w.Write("data: 2\n\n"));
}

TEST(ChunkWriterTest, GivesUpWhenThePeerStopsReading) {
  SocketPair p;
  const int small = 4096;
  setsockopt(p.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  ChunkWriter w(p.fds[0], absl::Milliseconds(100));
  // Far more than the socket buffers hold; nobody reads.
  EXPECT_FALSE(w.Write(std::string(8 << 20, 'z')));
  EXPECT_FALSE(w.Write("more"));
}

}  // namespace
}  // namespace infernum::router
