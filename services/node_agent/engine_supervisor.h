#pragma once
// Runs the engine processes of one node, keyed by replica id: starts them from assignments, probes
// readiness, notices exits, stops them (SIGTERM to the process group, SIGKILL after a grace period) and
// always reaps them. Every state change goes to a callback; the agent turns those into reports.
//
// Each engine has one monitor thread that forks it, probes it, waits for it and is the only place its
// pid is signalled or reaped, so a pid is never signalled after it could have been reused. The thread
// also keeps PR_SET_PDEATHSIG meaningful: the kernel fires it when the forking *thread* exits, and this
// thread lives exactly as long as the engine.
//
// Engines outlive the agent in two ways: Detach() (a graceful exit that leaves them running, for agent
// upgrades) and engines that survive a kill -9 of the agent. Either way the next agent finds them in the
// state directory (EngineRecordStore: pid, start time, port, GPUs, command, written before exec) and
// Adopt() takes them over. An adopted engine is not the agent's child: it cannot be waited for, so its
// monitor thread holds a pidfd opened after checking the recorded start time. The pidfd tells when the
// process exits, and while it has not, its pid (also its process group id) cannot have been reused, so
// the rule above holds for adopted engines too.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedicated/node_agent/v1/engine_record.pb.h"
#include "dedicated/v1/node_service.pb.h"
#include "services/node_agent/engine_record_store.h"
#include "services/node_agent/metrics.h"
#include "services/node_agent/port_allocator.h"
#include "services/node_agent/process_launcher.h"

namespace dedicated::node_agent {

// One engine process as a monitor thread sees it (engine_supervisor.cc): the agent's child or an adopted
// engine.
class EngineProcess;

struct SupervisorOptions {
  // Which EngineCommand of an assignment to run.
  std::string engine_kind = "engine-sim";
  // Engines bind here ({host}) and are reported at host:port.
  std::string host = "127.0.0.1";
  // {engine_sim}.
  std::string engine_sim_path = "engine-sim";
  // One log file per replica, <log_dir>/<replica_id>.log; created if missing.
  std::string log_dir = "/tmp/di-node";
  // Valid GPU indices are [0, gpu_count).
  int64_t gpu_count = 8;
  absl::Duration readiness_timeout = absl::Minutes(10);
  absl::Duration stop_grace = absl::Seconds(10);
  absl::Duration probe_interval = absl::Milliseconds(200);
  absl::Duration probe_timeout = absl::Seconds(1);
  // False (default): engines get PR_SET_PDEATHSIG=SIGTERM and die with the agent, even with a kill -9.
  // True: they get no parent-death signal, so Detach() can leave them running for the next agent; an
  // engine orphaned by a kill -9 then keeps serving until the next agent adopts or stops it.
  bool engines_outlive_agent = false;
};

class EngineSupervisor {
 public:
  // Called on every state change, in order per replica, while the supervisor's lock is held: it must be
  // quick (queue the report) and must not call back into the supervisor.
  using StatusCallback = std::function<void(const dedicated::v1::ReplicaStatus&)>;

  // `launcher`, `ports`, `metrics` (may be null) and `records` (may be null: engines are not recorded,
  // nothing is adopted) must outlive the supervisor.
  EngineSupervisor(SupervisorOptions options, ProcessLauncher* launcher, PortAllocator* ports, Metrics* metrics,
                   StatusCallback on_status, EngineRecordStore* records = nullptr);
  // Stops every engine (StopAll), unless Detach() let them go.
  ~EngineSupervisor();

  EngineSupervisor(const EngineSupervisor&) = delete;
  EngineSupervisor& operator=(const EngineSupervisor&) = delete;

  // Level-triggered: makes the engines match a full snapshot of this node's assignments.
  //  - desired RUNNING, not running -> start (a replica whose engine FAILED is left FAILED: the agent
  //    never restarts on its own; the controlplane retries with a new replica id, or by setting the
  //    replica STOPPED and then RUNNING again).
  //  - running, but desired STOPPED/unspecified or absent -> stop, then STOPPED. A FAILED replica that is
  //    no longer wanted becomes STOPPED as well, and a desired-STOPPED replica the agent never ran is
  //    reported STOPPED, so the controlplane always converges on STOPPED.
  //  - a start whose GPUs are still held by an engine being stopped waits until that engine is gone.
  // Returns at once; stops and readiness happen on the engines' threads.
  void Reconcile(const dedicated::v1::Assignments& snapshot);

  // Everything the agent knows, for heartbeats: running engines and the last state of replicas that are
  // still assigned, plus STOPPED replicas that were unassigned and not yet forgotten.
  std::vector<dedicated::v1::ReplicaStatus> Statuses() const;

  // Drops STOPPED replicas that are no longer assigned, once their STOPPED state has reached the
  // controlplane in a heartbeat (`reported_stopped` = ids that heartbeat carried as STOPPED).
  void Forget(const std::vector<std::string>& reported_stopped);

  // Once, before the first Reconcile: takes over the engines recorded in the state directory. A recorded
  // process that still runs (same pid, start time and boot) is adopted: its port is reserved, it is probed
  // once and reported READY (answers its readiness path) or STARTING (probed further, as after a launch),
  // and the first snapshot keeps it (desired RUNNING) or stops it like any engine. Records of processes
  // that are gone, or whose pid now names another process, are deleted and nothing is signalled.
  // Returns how many engines were adopted.
  int Adopt();

  // Shutdown: refuses further starts, stops all engines in parallel, waits until all are reaped.
  void StopAll();

  // Shutdown that leaves the engines running, for the next agent to adopt: refuses further starts, ends
  // the monitor threads without signalling anything, and keeps the records. Engines already being stopped
  // finish stopping first. Only possible with `engines_outlive_agent` (otherwise the parent-death signal
  // would kill the engines as their threads end): without it this is StopAll().
  void Detach();

  // Introspection for tests and logs.
  std::optional<dedicated::v1::ReplicaStatus> StatusOf(const std::string& replica_id) const;
  // The engine's pid while its process exists, else nullopt.
  std::optional<pid_t> PidOf(const std::string& replica_id) const;
  std::string LogPathOf(const std::string& replica_id) const;

 private:
  struct Engine {
    std::string replica_id;
    dedicated::v1::ReplicaAssignment assignment;
    dedicated::v1::ReplicaStatus::State state = dedicated::v1::ReplicaStatus::STARTING;
    std::string endpoint;
    std::string message;
    // In the latest snapshot, whatever its desired state.
    bool assigned = true;
    bool stop_requested = false;
    // True once no process exists (never launched, or reaped); the monitor thread then only returns.
    bool finished = true;
    pid_t pid = 0;
    int port = 0;
    std::thread thread;
  };

  // What the monitor loop of one engine run needs; owned by its thread.
  struct RunState {
    std::string readiness_path;
    std::string probe_host;
    int port = 0;
    std::string log_path;
    std::uintmax_t log_offset = 0;
    bool ready = false;
    absl::Time ready_deadline;
    // This run's record, rewritten when the engine becomes ready (if records_ is set).
    dedicated::node_agent::v1::EngineRecord record;
  };

  void ApplyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartLocked(const dedicated::v1::ReplicaAssignment& assignment) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a failure that happened before any process existed.
  void FailWithoutProcessLocked(std::unique_ptr<Engine> engine, std::string message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStateLocked(Engine* engine, dedicated::v1::ReplicaStatus::State state, std::string message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The process is gone: deletes its record, reports `state`, then FinishLocked.
  void EndRunLocked(Engine* engine, dedicated::v1::ReplicaStatus::State state, std::string message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The process is gone: releases its port, marks the engine finished and re-applies the last snapshot
  // (a replica wanted again, or one waiting for these GPUs, can start now).
  void FinishLocked(Engine* engine) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateMetricsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RetireThreadLocked(Engine* engine) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void JoinRetiredThreads() ABSL_LOCKS_EXCLUDED(mu_);

  // The monitor thread of one engine: launches it, then Monitor().
  void RunEngine(Engine* engine, LaunchSpec spec, RunState run);
  // The monitor thread of an adopted engine (`pidfd` from OpenProcess, owned by the thread).
  void RunAdoptedEngine(Engine* engine, int pidfd, RunState run);
  // Probes, notices the exit, stops on request; ends with FinishLocked, or returns untouched on Detach.
  void Monitor(Engine* engine, EngineProcess& process, RunState run);

  static dedicated::v1::ReplicaStatus ToStatus(const Engine& engine);

  const SupervisorOptions options_;
  ProcessLauncher* const launcher_;
  PortAllocator* const ports_;
  Metrics* const metrics_;
  const StatusCallback on_status_;
  EngineRecordStore* const records_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Engine>> engines_ ABSL_GUARDED_BY(mu_);
  std::optional<dedicated::v1::Assignments> last_snapshot_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Detach(): monitor threads return and leave their engines running.
  bool detaching_ ABSL_GUARDED_BY(mu_) = false;
  // Threads of engines already erased or replaced; joined outside the lock by a non-monitor thread.
  std::vector<std::thread> retired_threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::node_agent
