#include "services/node_agent/port_allocator.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace dedicated::node_agent {
namespace {

// A loopback listener on an ephemeral port; the port stays taken while the object lives.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 1), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(ParsePortRangeTest, AcceptsFirstDashLast) {
  absl::StatusOr<PortRange> range = ParsePortRange("20000-29999");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->first, 20000);
  EXPECT_EQ(range->last, 29999);
}

TEST(ParsePortRangeTest, RefusesMalformedRanges) {
  for (const char* bad : {"", "20000", "3-2", "0-10", "1-70000", "a-b", "1-2-3"}) {
    EXPECT_EQ(ParsePortRange(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PortAllocatorTest, SkipsPortThatSomethingElseListensOn) {
  Listener busy;
  EXPECT_FALSE(CanBind("127.0.0.1", busy.port()));
  PortAllocator ports("127.0.0.1", {busy.port(), busy.port()});
  EXPECT_EQ(ports.Allocate().status().code(), absl::StatusCode::kResourceExhausted);
  busy.Close();
  absl::StatusOr<int> port = ports.Allocate();
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, busy.port());
  EXPECT_TRUE(CanBind("127.0.0.1", *port));
}

TEST(PortAllocatorTest, ReservesAllocatedPortUntilReleased) {
  Listener probe;
  const int p = probe.port();
  probe.Close();
  PortAllocator ports("127.0.0.1", {p, p});
  ASSERT_EQ(ports.Allocate().value_or(-1), p);
  // Nobody bound it yet, but it is promised to an engine.
  EXPECT_EQ(ports.Allocate().status().code(), absl::StatusCode::kResourceExhausted);
  ports.Release(p);
  EXPECT_EQ(ports.Allocate().value_or(-1), p);
}

TEST(PortAllocatorTest, HandsOutDistinctBindablePorts) {
  PortAllocator ports("127.0.0.1", {20000, 29999});
  absl::StatusOr<int> a = ports.Allocate();
  absl::StatusOr<int> b = ports.Allocate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_GE(*a, 20000);
  EXPECT_LE(*b, 29999);
  EXPECT_TRUE(CanBind("127.0.0.1", *a));
  EXPECT_TRUE(CanBind("127.0.0.1", *b));
}

}  // namespace
}  // namespace dedicated::node_agent
