#include "router/server/connection_probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace infernum::router {
namespace {

int PortOf(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  EXPECT_EQ(rc, 0);
  return ntohs(a.sin_port);
}

// A loopback listener; Connect() makes one connection and returns the
// accepted (server side) and client descriptors.
class Loopback {
 public:
  Loopback() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listener_, 8), 0);
    port_ = PortOf(listener_, /*peer=*/false);
  }
  ~Loopback() { close(listener_); }
  int port() const { return port_; }

  struct Conn {
    int server = -1;
    int client = -1;
    int client_port = 0;
  };
  Conn Connect() {
    Conn c;
    c.client = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    EXPECT_EQ(connect(c.client, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    c.server = accept(listener_, nullptr, nullptr);
    EXPECT_GE(c.server, 0);
    c.client_port = PortOf(c.client, /*peer=*/false);
    return c;
  }

 private:
  int listener_ = -1;
  int port_ = 0;
};

const std::string kHost = "127.0.0.1";

TEST(SocketFinderTest, FindsTheAcceptedSocketByItsAddresses) {
  Loopback l;
  Loopback::Conn a = l.Connect();
  Loopback::Conn b = l.Connect();
  SocketFinder finder;
  EXPECT_EQ(finder.Find(kHost, l.port(), kHost, a.client_port), a.server);
  EXPECT_EQ(finder.Find(kHost, l.port(), kHost, b.client_port), b.server);
  EXPECT_EQ(finder.Find(kHost, l.port(), kHost, a.client_port), a.server);
  EXPECT_EQ(SocketFinder::Scan(kHost, l.port(), kHost, b.client_port),
            b.server);
  // No such connection (a client port that is not connected here).
  EXPECT_EQ(finder.Find(kHost, l.port(), kHost, l.port()), -1);
  EXPECT_EQ(finder.Find(kHost, 0, kHost, a.client_port), -1);
  EXPECT_EQ(finder.Find("::1", l.port(), kHost, a.client_port), -1);
  for (int fd : {a.server, a.client, b.server, b.client}) close(fd);
}

TEST(SocketFinderTest, AReusedDescriptorIsNotTakenForAClosedConnection) {
  Loopback l;
  SocketFinder finder;
  Loopback::Conn old = l.Connect();
  ASSERT_EQ(finder.Find(kHost, l.port(), kHost, old.client_port), old.server);
  close(old.server);
  close(old.client);
  // The new connection's sockets take the lowest free descriptors: the
  // cached one now belongs to another connection.
  Loopback::Conn now = l.Connect();
  EXPECT_EQ(finder.Find(kHost, l.port(), kHost, old.client_port), -1);
  EXPECT_EQ(finder.Find(kHost, l.port(), kHost, now.client_port), now.server);
  close(now.server);
  close(now.client);
}

TEST(ConnectionProbeTest, SeesThePeerHangUp) {
  Loopback l;
  Loopback::Conn c = l.Connect();
  const ConnectionProbe probe(kHost, l.port(), kHost, c.client_port);
  ASSERT_TRUE(probe.found());
  EXPECT_EQ(probe.fd(), c.server);
  EXPECT_TRUE(probe.PeerConnected());
  ASSERT_EQ(write(c.client, "GET", 3), 3);  // Pipelined data: still there.
  EXPECT_TRUE(probe.PeerConnected());
  close(c.client);
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; ++i) {
    gone = !probe.PeerConnected();
    if (!gone) usleep(1000);
  }
  EXPECT_TRUE(gone);
  EXPECT_TRUE(ConnectionProbe(-1).PeerConnected());  // Unknown: connected.
  close(c.server);
}

}  // namespace
}  // namespace infernum::router
