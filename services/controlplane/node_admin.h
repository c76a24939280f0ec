#pragma once
// NodeAdminService (installation admins): the fleet's inventory with free and used GPUs, and draining.
// A drained node is skipped by placement (node_store.cc ReadFreeGpus); its running replicas stay.

#include "absl/status/statusor.h"
#include "dedicated/v1/node_admin_service.pb.h"
#include "dedicated/v1/operation.pb.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

class NodeAdminApi {
 public:
  absl::StatusOr<v1::Node> Get(DbSession& db, const RequestContext& rc, const v1::GetNodeRequest& req);
  absl::StatusOr<v1::ListNodesResponse> List(DbSession& db, const RequestContext& rc, const v1::ListNodesRequest& req);
  absl::StatusOr<v1::Operation> Drain(DbSession& db, const RequestContext& rc, const v1::DrainNodeRequest& req);
  absl::StatusOr<v1::Operation> Undrain(DbSession& db, const RequestContext& rc, const v1::UndrainNodeRequest& req);

 private:
  absl::StatusOr<v1::Operation> SetDrained(DbSession& db, const RequestContext& rc, const std::string& node_id,
                                           bool drained, const google::protobuf::Message& request);
};

}  // namespace dedicated::controlplane
