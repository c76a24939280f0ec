#pragma once
// NodeService logic: node registration, heartbeats, replica reports, and the assignment snapshots the
// agents run. Like InstanceApi it takes a DbSession and knows nothing of gRPC.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dedicated/v1/node_service.pb.h"
#include "services/catalog/catalog.h"
#include "services/controlplane/controlplane_config.h"
#include "services/controlplane/wakeups.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

class NodeApi {
 public:
  NodeApi(std::shared_ptr<const catalog::Catalog> catalog, const ControlplaneConfig* config, Wakeups* wakeups)
      : catalog_(std::move(catalog)), config_(config), wakeups_(wakeups) {}

  absl::StatusOr<v1::RegisterNodeResponse> Register(DbSession& db, const v1::RegisterNodeRequest& req);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(DbSession& db, const v1::HeartbeatRequest& req);
  absl::StatusOr<v1::ReportReplicaStatusResponse> Report(DbSession& db, const v1::ReportReplicaStatusRequest& req);
  // The full desired state of a node. NOT_FOUND for an unknown node.
  absl::StatusOr<v1::Assignments> Snapshot(DbSession& db, const std::string& node_id);

 private:
  // Applies reports in one transaction; wakes the operations of the instances they touch.
  absl::Status ApplyStatuses(DbSession& db, const std::string& node_id,
                             const google::protobuf::RepeatedPtrField<v1::ReplicaStatus>& statuses, bool heartbeat);

  std::shared_ptr<const catalog::Catalog> catalog_;
  const ControlplaneConfig* config_;
  Wakeups* wakeups_;
};

}  // namespace dedicated::controlplane
