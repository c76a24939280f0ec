#pragma once
// An in-process NodeService for the agent tests: the controlplane side of the protocol, scripted by the
// test (assignments to send, streams to break, nodes to forget) and recording what the agent said.

#include <grpcpp/server.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "services/node_agent/test_util.h"

namespace dedicated::node_agent::testing {

class FakeNodeService final : public dedicated::v1::NodeService::Service {
 public:
  grpc::Status Register(grpc::ServerContext* ctx, const dedicated::v1::RegisterNodeRequest* req,
                        dedicated::v1::RegisterNodeResponse* resp) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const dedicated::v1::HeartbeatRequest* req,
                         dedicated::v1::HeartbeatResponse* resp) override;
  grpc::Status WatchAssignments(grpc::ServerContext* ctx, const dedicated::v1::WatchAssignmentsRequest* req,
                                grpc::ServerWriter<dedicated::v1::Assignments>* writer) override;
  grpc::Status ReportReplicaStatus(grpc::ServerContext* ctx, const dedicated::v1::ReportReplicaStatusRequest* req,
                                   dedicated::v1::ReportReplicaStatusResponse* resp) override;

  // Replaces the node's assignments (a new version) and pushes them to open streams.
  void SetAssignments(std::vector<dedicated::v1::ReplicaAssignment> replicas);
  // Ends every open stream with UNAVAILABLE.
  void BreakStreams();
  // Forgets every node: heartbeats, reports and streams of known ids get NOT_FOUND, and registering
  // again issues a new id.
  void ForgetNodes();
  void set_heartbeat_interval(absl::Duration d);
  // From now on, calls whose `authorization` is not "Api-Key <secret>" fail with UNAUTHENTICATED "invalid
  // node credential" (they are still counted in authorizations()). Empty: no check (the default).
  void RequireCredential(std::string secret);

  std::vector<dedicated::v1::RegisterNodeRequest> registers() const;
  std::vector<dedicated::v1::HeartbeatRequest> heartbeats() const;
  int64_t heartbeat_count() const;
  int64_t watch_calls() const;
  int64_t open_streams() const;
  // The ids node_id fields of successful stream opens carried, in order.
  std::vector<std::string> watched_node_ids() const;
  const StatusLog& reports() const { return reports_; }
  // The `authorization` metadata of every call by method ("Register", "Heartbeat", "WatchAssignments",
  // "ReportReplicaStatus"), in order; "" for a call without one.
  std::map<std::string, std::vector<std::string>> authorizations() const;

 private:
  // Records the call's authorization and applies RequireCredential.
  grpc::Status Admit(const grpc::ServerContext* ctx, const std::string& method) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(100);
  std::map<std::string, std::string> id_by_name_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> known_ids_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  dedicated::v1::Assignments assignments_ ABSL_GUARDED_BY(mu_);
  int64_t break_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<dedicated::v1::RegisterNodeRequest> registers_ ABSL_GUARDED_BY(mu_);
  std::vector<dedicated::v1::HeartbeatRequest> heartbeats_ ABSL_GUARDED_BY(mu_);
  int64_t watch_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t open_streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> watched_node_ids_ ABSL_GUARDED_BY(mu_);
  std::string required_credential_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> authorizations_ ABSL_GUARDED_BY(mu_);
  StatusLog reports_;
};

// The fake service on a loopback port (0: any free port).
class FakeControlplane {
 public:
  explicit FakeControlplane(int port = 0);
  ~FakeControlplane();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  FakeNodeService& service() { return service_; }
  void Shutdown();

 private:
  FakeNodeService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace dedicated::node_agent::testing
