#include "services/node_agent/port_allocator.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dedicated::node_agent {

absl::StatusOr<PortRange> ParsePortRange(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  PortRange range;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &range.first) || !absl::SimpleAtoi(parts[1], &range.last) ||
      range.first < 1 || range.last > 65535 || range.first > range.last) {
    return absl::InvalidArgumentError(absl::StrCat("--port-range: want FIRST-LAST within 1-65535, got \"", text, "\""));
  }
  return range;
}

bool CanBind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string service = absl::StrCat(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &result) != 0) {
    return false;
  }
  bool ok = result != nullptr;
  for (addrinfo* ai = result; ai != nullptr && ok; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      ok = false;
      break;
    }
    // Engines set SO_REUSEADDR like nearly every server does, so TIME_WAIT leftovers on the port do not
    // stop them; probing the same way avoids rejecting ports they could use.
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0;
    close(fd);
  }
  freeaddrinfo(result);
  return ok;
}

PortAllocator::PortAllocator(std::string host, PortRange range)
    : host_(std::move(host)), range_(range), next_(range.first) {}

absl::StatusOr<int> PortAllocator::Allocate() {
  absl::MutexLock lock(&mu_);
  const int size = range_.last - range_.first + 1;
  for (int i = 0; i < size; ++i) {
    int port = next_;
    next_ = next_ == range_.last ? range_.first : next_ + 1;
    if (reserved_.contains(port)) continue;
    if (!CanBind(host_, port)) continue;
    reserved_.insert(port);
    return port;
  }
  return absl::ResourceExhaustedError(absl::StrCat("no free port in ", range_.first, "-", range_.last, " on ", host_));
}

bool PortAllocator::Reserve(int port) {
  absl::MutexLock lock(&mu_);
  return reserved_.insert(port).second;
}

void PortAllocator::Release(int port) {
  absl::MutexLock lock(&mu_);
  reserved_.erase(port);
}

}  // namespace dedicated::node_agent
