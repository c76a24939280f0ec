#pragma once
// Hands out TCP ports for engines from a configured range. A port is given out only if nothing of ours
// holds it and a test bind succeeds, so engines rarely collide with other listeners on the host.

#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace dedicated::node_agent {

struct PortRange {
  int first = 20000;
  int last = 29999;
};

// "20000-29999" -> {20000, 29999}; INVALID_ARGUMENT otherwise.
absl::StatusOr<PortRange> ParsePortRange(absl::string_view text);

// True if a listening socket could be bound to host:port right now.
bool CanBind(const std::string& host, int port);

class PortAllocator {
 public:
  // `host` is the address engines bind to; the test bind uses it too.
  PortAllocator(std::string host, PortRange range);

  // A free port, reserved until Release(). RESOURCE_EXHAUSTED if the whole range is taken.
  absl::StatusOr<int> Allocate();
  // Reserves a port that is already in use by an engine the agent adopted (it may lie outside the
  // range, if the range changed). False if it was reserved already.
  bool Reserve(int port);
  void Release(int port);

 private:
  const std::string host_;
  const PortRange range_;
  absl::Mutex mu_;
  std::set<int> reserved_ ABSL_GUARDED_BY(mu_);
  // Allocation continues after the last port handed out rather than restarting at the bottom, so a port
  // that an engine just released is not immediately handed to the next one: clients that still hold the
  // old endpoint then fail to connect instead of reaching the wrong model.
  int next_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::node_agent
