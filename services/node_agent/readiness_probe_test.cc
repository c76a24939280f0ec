#include "services/node_agent/readiness_probe.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace dedicated::node_agent {
namespace {

// Accepts one connection on loopback and answers it with `response` (or nothing).
class OneShotServer {
 public:
  explicit OneShotServer(std::string response, bool answer = true) : response_(std::move(response)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 1);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, answer] {
      int client = accept(fd_, nullptr, nullptr);
      char buf[1024];
      request_.assign(buf, static_cast<size_t>(std::max<ssize_t>(0, read(client, buf, sizeof(buf)))));
      if (answer) {
        ssize_t ignored = write(client, response_.data(), response_.size());
        (void)ignored;
      } else {
        absl::SleepFor(absl::Milliseconds(500));
      }
      close(client);
    });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  // Waits for the exchange to end; returns what the client sent.
  std::string Finish() {
    thread_.join();
    return request_;
  }

 private:
  std::string response_;
  std::string request_;
  int fd_;
  int port_;
  std::thread thread_;
};

TEST(HttpGetStatusTest, ReturnsStatusCodeOfTheAnswer) {
  OneShotServer server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  absl::StatusOr<int> code = HttpGetStatus("127.0.0.1", server.port(), "/health", absl::Seconds(2));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 503);
  std::string request = server.Finish();
  EXPECT_EQ(request.rfind("GET /health HTTP/1.0\r\n", 0), 0u) << request;
}

TEST(HttpGetStatusTest, NothingListeningIsUnavailable) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);  // Bound once, now free: nothing listens there.
  absl::StatusOr<int> code = HttpGetStatus("127.0.0.1", ntohs(addr.sin_port), "/health", absl::Seconds(2));
  EXPECT_EQ(code.status().code(), absl::StatusCode::kUnavailable) << code.status();
}

TEST(HttpGetStatusTest, SilentServerTimesOut) {
  OneShotServer server("", /*answer=*/false);
  const absl::Time start = absl::Now();
  absl::StatusOr<int> code = HttpGetStatus("127.0.0.1", server.port(), "/health", absl::Milliseconds(200));
  EXPECT_EQ(code.status().code(), absl::StatusCode::kDeadlineExceeded) << code.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(450));
}

TEST(HttpGetStatusTest, GarbageIsNotHttp) {
  OneShotServer server("SSH-2.0-OpenSSH\r\n");
  EXPECT_EQ(HttpGetStatus("127.0.0.1", server.port(), "/health", absl::Seconds(2)).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ProbeHostForTest, WildcardBindIsProbedOnLoopback) {
  EXPECT_EQ(ProbeHostFor("0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(ProbeHostFor("::"), "::1");
  EXPECT_EQ(ProbeHostFor("10.1.2.3"), "10.1.2.3");
}

}  // namespace
}  // namespace dedicated::node_agent
