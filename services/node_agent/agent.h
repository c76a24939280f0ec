#pragma once
// The node-agent's conversation with the controlplane (dedicated.v1.NodeService):
//   register (retried with backoff) -> heartbeat every interval with every replica's state
//   watch assignments (full snapshots, reconnect with backoff) -> EngineSupervisor::Reconcile
//   every replica state change -> ReportReplicaStatus at once (heartbeats repeat it, so a lost report
//   is repaired).
// Static stability: losing the controlplane never stops engines; only a snapshot that no longer wants
// a replica does. Every call carries the node credential (`authorization: Api-Key <secret>`); a refused
// credential is logged as such and retried like any other failure.

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "services/common/labels.h"
#include "services/node_agent/engine_supervisor.h"
#include "services/node_agent/metrics.h"

namespace dedicated::node_agent {

inline constexpr char kAgentVersion[] = "0.1.0";

struct AgentOptions {
  // What Register sends.
  std::string name;
  std::string gpu_type = "H100-80GB";
  int64_t gpu_count = 8;
  int64_t gpu_memory_bytes = 80LL << 30;
  std::map<std::string, std::string> labels;
  std::string address = "127.0.0.1";
  std::string engine_kind = "engine-sim";

  // The node credential, sent as `authorization: Api-Key <credential>` on every call; empty: no header.
  // Never logged.
  std::string credential;
  // Where it came from ("--node-key-file /x", "$DI_NODE_KEY"), for the logs.
  std::string credential_source;

  // Deadline of every unary RPC.
  absl::Duration rpc_timeout = absl::Seconds(5);
  // Retry delays of Register and of the assignment stream: doubling from initial up to max, with jitter.
  absl::Duration backoff_initial = absl::Milliseconds(200);
  absl::Duration backoff_max = absl::Seconds(5);
  // Used until the controlplane says otherwise (and if it says 0).
  absl::Duration default_heartbeat_interval = absl::Seconds(5);
  // How long shutdown waits for the final STOPPED reports to go out.
  absl::Duration shutdown_report_timeout = absl::Seconds(3);
};

// --labels parsing is shared with dictl: services/common/labels.h.
using ::dedicated::ParseLabels;

// A channel to the controlplane with the settings the agent's long-lived stream needs.
std::shared_ptr<grpc::Channel> MakeControlplaneChannel(const std::string& target);

class Agent {
 public:
  // `launcher`, `ports`, `metrics` (may be null) and `records` (may be null: no state directory, nothing
  // adopted) must outlive the agent.
  Agent(AgentOptions options, SupervisorOptions supervisor_options, std::shared_ptr<grpc::Channel> channel,
        ProcessLauncher* launcher, PortAllocator* ports, Metrics* metrics, EngineRecordStore* records = nullptr);
  ~Agent();

  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Adopts the engines a previous agent left running (EngineSupervisor::Adopt), so that the first
  // heartbeat already reports them, then starts the background threads (registration/heartbeat,
  // assignment stream, reports).
  void Start();
  enum class ShutdownMode {
    // Stop every engine and report STOPPED.
    kStopEngines,
    // Leave the engines running (and recorded) for the next agent: an upgrade or restart of the agent.
    // Needs SupervisorOptions::engines_outlive_agent, else it is kStopEngines.
    kKeepEngines,
  };
  // Graceful shutdown: stops following assignments, stops or leaves the engines, then ends the threads.
  // Idempotent.
  void Shutdown(ShutdownMode mode = ShutdownMode::kStopEngines);

  // Empty until registered.
  std::string node_id() const;
  EngineSupervisor& supervisor() { return *supervisor_; }

 private:
  class Backoff;

  void RunSession();
  void RunWatch();
  void RunReports();

  absl::Status Register(std::string* node_id, absl::Duration* heartbeat_interval);
  void EnqueueReport(const dedicated::v1::ReplicaStatus& status) ABSL_LOCKS_EXCLUDED(mu_);
  // Sleeps for `d` unless the agent is stopping; returns false if it is.
  bool SleepUnlessStopping(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  // Adds the node credential to a call. The one place it is attached, for unary calls and the stream.
  void Authorize(grpc::ClientContext* ctx) const;
  // Prepares a unary call's context: deadline, credential, and registered so that Shutdown can cancel it.
  void BeginCall(grpc::ClientContext* ctx) ABSL_LOCKS_EXCLUDED(mu_);
  void EndCall(grpc::ClientContext* ctx) ABSL_LOCKS_EXCLUDED(mu_);
  // For log fields: where the credential came from, or "none".
  std::string CredentialSource() const;

  const AgentOptions options_;
  std::unique_ptr<dedicated::v1::NodeService::Stub> stub_;
  Metrics* const metrics_;

  mutable absl::Mutex mu_;
  std::string node_id_ ABSL_GUARDED_BY(mu_);
  // Grows with every successful Register; the stream reopens when it changes.
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::set<grpc::ClientContext*> inflight_ ABSL_GUARDED_BY(mu_);
  // Latest unsent state per replica, in first-change order: if reports back up (controlplane slow or
  // down), only the newest state of each replica is worth sending.
  std::vector<dedicated::v1::ReplicaStatus> pending_reports_ ABSL_GUARDED_BY(mu_);
  bool report_in_flight_ ABSL_GUARDED_BY(mu_) = false;

  std::thread session_thread_;
  std::thread watch_thread_;
  std::thread report_thread_;

  // Last member: destroyed first, while the report queue it feeds still exists.
  std::unique_ptr<EngineSupervisor> supervisor_;
};

}  // namespace dedicated::node_agent
