#pragma once
// InstanceService and OperationService logic: validation, idempotency, and the transactions that create
// operations. Runs on DB executor threads with a session passed in; knows nothing of gRPC, so tests can
// drive it directly.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dedicated/v1/instance_service.pb.h"
#include "dedicated/v1/operation_service.pb.h"
#include "services/catalog/catalog.h"
#include "services/common/clock.h"
#include "services/controlplane/controlplane_config.h"
#include "services/controlplane/instance_store.h"
#include "services/controlplane/request_context.h"
#include "services/controlplane/wakeups.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

class InstanceApi {
 public:
  InstanceApi(std::shared_ptr<const catalog::Catalog> catalog, const Clock* clock, const ControlplaneConfig* config,
              Wakeups* wakeups)
      : catalog_(std::move(catalog)), clock_(clock), config_(config), wakeups_(wakeups) {}

  absl::StatusOr<v1::Instance> Get(DbSession& db, const RequestContext& rc, const v1::GetInstanceRequest& req);
  absl::StatusOr<v1::ListInstancesResponse> List(DbSession& db, const RequestContext& rc,
                                                 const v1::ListInstancesRequest& req);
  absl::StatusOr<v1::Operation> Create(DbSession& db, const RequestContext& rc, const v1::CreateInstanceRequest& req);
  absl::StatusOr<v1::Operation> Update(DbSession& db, const RequestContext& rc, const v1::UpdateInstanceRequest& req);
  absl::StatusOr<v1::Operation> Delete(DbSession& db, const RequestContext& rc, const v1::DeleteInstanceRequest& req);
  absl::StatusOr<v1::Operation> Start(DbSession& db, const RequestContext& rc, const v1::StartInstanceRequest& req);
  absl::StatusOr<v1::Operation> Stop(DbSession& db, const RequestContext& rc, const v1::StopInstanceRequest& req);
  absl::StatusOr<v1::ListInstanceOperationsResponse> ListOperations(DbSession& db, const RequestContext& rc,
                                                                    const v1::ListInstanceOperationsRequest& req);

  absl::StatusOr<v1::Operation> GetOperation(DbSession& db, const RequestContext& rc,
                                             const v1::GetOperationRequest& req);
  absl::StatusOr<v1::Operation> CancelOperation(DbSession& db, const RequestContext& rc,
                                                const v1::CancelOperationRequest& req);

 private:
  // Update of configuration/replica_count: applies it to a STOPPED/ERROR instance at once (false) or checks
  // that a rolling update can start on an ACTIVE one (true: the caller inserts a running operation).
  absl::StatusOr<bool> PrepareSpecChange(pqxx::work& tx, DbSession& db, InstanceRow& row,
                                         const std::string& configuration, int64_t replica_count,
                                         const std::string& op_id);

  // Body of a state-changing RPC: runs `fn` in a transaction unless the idempotency key names an earlier
  // identical request, in which case that operation is returned.
  template <typename Fn>
  absl::StatusOr<v1::Operation> Mutate(DbSession& db, const RequestContext& rc, absl::string_view method,
                                       const google::protobuf::Message& request, Fn&& fn);

  std::shared_ptr<const catalog::Catalog> catalog_;
  const Clock* clock_;
  const ControlplaneConfig* config_;
  Wakeups* wakeups_;
};

}  // namespace dedicated::controlplane
