#pragma once
// Naming one process for good. A pid alone is not enough to find an engine again after the agent
// restarted: the engine may have died and its pid been given to an unrelated process. (pid, start time,
// boot id) cannot be reused, and a pidfd opened after checking it keeps referring to that process even
// if the pid is recycled later. This is how adopted engines keep the supervisor's rule that a pid is never
// signalled after it could have been reused.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dedicated::node_agent {

struct ProcessIdentity {
  pid_t pid = 0;
  // Field 22 of /proc/<pid>/stat: clock ticks after boot.
  uint64_t start_time_ticks = 0;
  // /proc/sys/kernel/random/boot_id: start times count from boot, so they only compare within one boot.
  std::string boot_id;
};

// The identity of a live process (also of a zombie: it keeps its pid until reaped). NOT_FOUND if there is
// no such process.
absl::StatusOr<ProcessIdentity> IdentifyProcess(pid_t pid);

// The kernel's boot id, read once; "" if unreadable.
const std::string& BootId();

// A pidfd for the process `identity` names, if it still runs. NOT_FOUND: it exited (the pid is free, a
// zombie, or another process's now); FAILED_PRECONDITION: the pid belongs to another process (different
// start time or boot). The identity is checked after the pidfd is opened, so the pidfd surely refers to
// the named process. The pidfd is close-on-exec; the caller closes it.
absl::StatusOr<int> OpenProcess(const ProcessIdentity& identity);

// True once the process behind `pidfd` has exited (pidfds become readable then), waiting up to `timeout`.
bool WaitForExit(int pidfd, absl::Duration timeout);

}  // namespace dedicated::node_agent
