#pragma once
// Starting engine processes, behind an interface so that the supervisor's logic (readiness, stop,
// reaping) runs unchanged over real processes in tests while a test can still see exactly what would be
// executed.

#include <sys/types.h>

#include <csignal>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace dedicated::node_agent {

struct LaunchSpec {
  std::vector<std::string> argv;
  // Set on top of the agent's own environment (e.g. CUDA_VISIBLE_DEVICES).
  std::vector<std::pair<std::string, std::string>> env;
  // stdout and stderr are appended here.
  std::string log_path;
  // Sent to the process when the launching thread exits (PR_SET_PDEATHSIG); 0: none, the process may
  // outlive the agent.
  int parent_death_signal = SIGTERM;
  // If set, runs in the parent after fork and before the child may exec, with the child's pid. The child
  // waits for it; an error kills the child and becomes Launch's error. This is how an engine's record
  // reaches disk before the engine runs, so no engine ever runs unrecorded.
  std::function<absl::Status(pid_t)> before_exec;
};

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts the process as the leader of a new process group and returns its pid once exec succeeded;
  // the caller owns reaping it. The child gets spec.parent_death_signal when the *calling thread* exits
  // (that is how PR_SET_PDEATHSIG works), so call this from a thread that outlives the process.
  virtual absl::StatusOr<pid_t> Launch(const LaunchSpec& spec) = 0;
};

// fork + execve. In the child: own process group, PR_SET_PDEATHSIG (unless the spec says 0), default
// signal mask and dispositions (the agent blocks SIGTERM and ignores SIGPIPE, and
// both would otherwise be inherited), stdin from /dev/null, no inherited descriptors beyond 0-2.
class PosixProcessLauncher final : public ProcessLauncher {
 public:
  absl::StatusOr<pid_t> Launch(const LaunchSpec& spec) override;
};

// argv[0] as execve needs it: kept if it contains '/', otherwise looked up in $PATH. NOT_FOUND if no
// executable file is found.
absl::StatusOr<std::string> ResolveExecutable(const std::string& name);

// `name` in the directory of the running executable (/proc/self/exe) if it is executable there, else
// plain `name` (looked up in $PATH at launch). All binaries of a build land in one bin/ directory, so
// this finds the engine-sim that was built with the agent.
std::string SiblingExecutable(const std::string& name);

}  // namespace dedicated::node_agent
