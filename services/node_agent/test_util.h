#pragma once
// Helpers shared by the node-agent tests: locating the helper binaries, waiting for conditions, and
// recording what the supervisor reported or launched.

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedicated/v1/node_service.pb.h"
#include "services/node_agent/process_launcher.h"

namespace dedicated::node_agent::testing {

// Directory of the running test binary (<build>/bin), where fake_engine and node-agent also land.
std::string BinDir();
std::string FakeEnginePath();

// A fresh empty directory under the test temp dir.
std::string NewTempDir(const std::string& name);

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10));

// True while the process exists and is not a zombie (a zombie has exited: it only awaits reaping).
bool ProcessAlive(pid_t pid);

// Reads a pid written by fake_engine --pid-file / --child-pid-file; 0 if absent.
pid_t ReadPidFile(const std::string& path);

std::string ReadFile(const std::string& path);

// An EngineCommand of kind "test" that runs fake_engine with the agent's {host} and {port} plus `extra`.
dedicated::v1::EngineCommand FakeEngineCommand(const std::vector<std::string>& extra = {});

// One replica assignment with the given commands.
dedicated::v1::ReplicaAssignment Replica(
    const std::string& replica_id, std::vector<int64_t> gpus, std::vector<dedicated::v1::EngineCommand> commands,
    dedicated::v1::ReplicaAssignment::DesiredState desired = dedicated::v1::ReplicaAssignment::RUNNING);

// Collects ReplicaStatus callbacks/reports, thread-safe.
class StatusLog {
 public:
  void Add(const dedicated::v1::ReplicaStatus& status);
  std::vector<dedicated::v1::ReplicaStatus> All() const;
  // States reported for one replica, in order.
  std::vector<dedicated::v1::ReplicaStatus::State> States(const std::string& replica_id) const;
  // The last status of a replica in `state`, if any.
  bool Find(const std::string& replica_id, dedicated::v1::ReplicaStatus::State state,
            dedicated::v1::ReplicaStatus* out = nullptr) const;
  bool WaitFor(const std::string& replica_id, dedicated::v1::ReplicaStatus::State state,
               absl::Duration timeout = absl::Seconds(10), dedicated::v1::ReplicaStatus* out = nullptr) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<dedicated::v1::ReplicaStatus> statuses_ ABSL_GUARDED_BY(mu_);
};

// The real launcher, recording every spec it was given.
class RecordingLauncher final : public ProcessLauncher {
 public:
  absl::StatusOr<pid_t> Launch(const LaunchSpec& spec) override;
  std::vector<LaunchSpec> specs() const;

 private:
  PosixProcessLauncher real_;
  mutable absl::Mutex mu_;
  std::vector<LaunchSpec> specs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::node_agent::testing

namespace dedicated::node_agent::testing {

// A loopback port that was free a moment ago.
int FreePort();

// GET http://127.0.0.1:port<path>; the whole response (status line, headers, body), or "" on error.
std::string HttpGetRaw(int port, const std::string& path);

}  // namespace dedicated::node_agent::testing
