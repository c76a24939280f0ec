#include "services/node_agent/readiness_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace dedicated::node_agent {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on fd until `deadline`.
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  for (;;) {
    int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError("readiness probe timed out");
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return absl::OkStatus();
    if (n == 0) return absl::DeadlineExceededError("readiness probe timed out");
    if (errno != EINTR) return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
  }
}

absl::StatusOr<int> ConnectWithDeadline(const addrinfo* ai, absl::Time deadline) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(err)));
    }
    absl::Status waited = WaitFor(fd, POLLOUT, deadline);
    int err = 0;
    socklen_t len = sizeof(err);
    if (waited.ok() && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
      waited = absl::UnavailableError(absl::StrCat("connect: ", std::strerror(err)));
    }
    if (!waited.ok()) {
      close(fd);
      return waited;
    }
  }
  return fd;
}

}  // namespace

std::string ProbeHostFor(const std::string& bind_host) {
  if (bind_host.empty() || bind_host == "0.0.0.0") return "127.0.0.1";
  if (bind_host == "::" || bind_host == "[::]") return "::1";
  return bind_host;
}

absl::StatusOr<int> HttpGetStatus(const std::string& host, int port, const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string service = absl::StrCat(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &result); rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolve ", host, ": ", gai_strerror(rc)));
  }
  absl::StatusOr<int> connected = absl::UnavailableError("no address for " + host);
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    connected = ConnectWithDeadline(ai, deadline);
    if (connected.ok()) break;
  }
  freeaddrinfo(result);
  if (!connected.ok()) return connected.status();
  Fd fd(*connected);

  const bool ipv6_literal = absl::StrContains(host, ':');
  const std::string request =
      absl::StrCat("GET ", path.empty() ? "/" : path, " HTTP/1.0\r\nHost: ", ipv6_literal ? "[" : "", host,
                   ipv6_literal ? "]" : "", ":", port, "\r\nUser-Agent: node-agent\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    if (absl::Status s = WaitFor(fd.get(), POLLOUT, deadline); !s.ok()) return s;
    ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }

  // Only the status line matters: "HTTP/1.x NNN ...".
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    if (absl::Status s = WaitFor(fd.get(), POLLIN, deadline); !s.ok()) return s;
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    }
    if (n == 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  int code = 0;
  if (!absl::StartsWith(head, "HTTP/") || head.size() < 12 || head[8] != ' ' ||
      !absl::SimpleAtoi(absl::string_view(head).substr(9, 3), &code)) {
    return absl::UnavailableError("readiness probe: not an HTTP response");
  }
  return code;
}

}  // namespace dedicated::node_agent
