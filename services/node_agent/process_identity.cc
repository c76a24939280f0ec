#include "services/node_agent/process_identity.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace dedicated::node_agent {
namespace {

struct StatLine {
  char state = '?';
  uint64_t start_time_ticks = 0;
};

absl::StatusOr<StatLine> ReadStat(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!in || !std::getline(in, line)) return absl::NotFoundError(absl::StrCat("no process ", pid));
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so fields are counted after the last ')'.
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return absl::InternalError(absl::StrCat("/proc/", pid, "/stat: unexpected format"));
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(line).substr(paren + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
  StatLine out;
  if (fields.size() < 20 || fields[0].size() != 1 || !absl::SimpleAtoi(fields[19], &out.start_time_ticks)) {
    return absl::InternalError(absl::StrCat("/proc/", pid, "/stat: unexpected format"));
  }
  out.state = fields[0][0];
  return out;
}

}  // namespace

absl::StatusOr<ProcessIdentity> IdentifyProcess(pid_t pid) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("bad pid ", pid));
  absl::StatusOr<StatLine> stat = ReadStat(pid);
  if (!stat.ok()) return stat.status();
  return ProcessIdentity{pid, stat->start_time_ticks, BootId()};
}

const std::string& BootId() {
  static const std::string* const boot_id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return new std::string(absl::StripAsciiWhitespace(id));
  }();
  return *boot_id;
}

absl::StatusOr<int> OpenProcess(const ProcessIdentity& identity) {
  if (identity.pid <= 0) return absl::InvalidArgumentError(absl::StrCat("bad pid ", identity.pid));
  if (identity.boot_id != BootId()) {
    return absl::NotFoundError(absl::StrCat("pid ", identity.pid, " is from another boot"));
  }
  int fd = static_cast<int>(syscall(SYS_pidfd_open, identity.pid, 0));
  if (fd < 0) {
    if (errno == ESRCH) return absl::NotFoundError(absl::StrCat("no process ", identity.pid));
    return absl::InternalError(absl::StrCat("pidfd_open ", identity.pid, ": ", std::strerror(errno)));
  }
  // pidfds are close-on-exec from birth (O_CLOEXEC is implied).
  absl::StatusOr<StatLine> stat = ReadStat(identity.pid);
  absl::Status result;
  if (!stat.ok()) {
    result = absl::NotFoundError(absl::StrCat("no process ", identity.pid));
  } else if (stat->start_time_ticks != identity.start_time_ticks) {
    result = absl::FailedPreconditionError(
        absl::StrCat("pid ", identity.pid, " now belongs to another process (start time ", stat->start_time_ticks,
                     ", recorded ", identity.start_time_ticks, ")"));
  } else if (stat->state == 'Z' || stat->state == 'X' || WaitForExit(fd, absl::ZeroDuration())) {
    result = absl::NotFoundError(absl::StrCat("process ", identity.pid, " has exited"));
  }
  if (!result.ok()) {
    close(fd);
    return result;
  }
  return fd;
}

bool WaitForExit(int pidfd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    pollfd p{pidfd, POLLIN, 0};
    const int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
    int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // a broken pidfd: treat the process as gone rather than signal it
  }
}

}  // namespace dedicated::node_agent
