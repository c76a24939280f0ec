#pragma once
// SQL for operations and idempotency keys. Operations are claimed by workers with leases
// (FOR UPDATE SKIP LOCKED + lease expiry), so a worker that dies mid-step is replaced once its lease
// lapses and nothing runs twice at once.

#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dedicated/v1/operation.pb.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/status.pb.h"
#include "services/controlplane/instance_store.h"
#include "services/controlplane/list_query.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

// Values of operations.kind.
inline constexpr char kCreateInstance[] = "CreateInstance";
inline constexpr char kUpdateInstance[] = "UpdateInstance";
inline constexpr char kDeleteInstance[] = "DeleteInstance";
inline constexpr char kStartInstance[] = "StartInstance";
inline constexpr char kStopInstance[] = "StopInstance";
// Started by the controlplane itself (created_by kSystemSubject) to replace lost replicas.
inline constexpr char kRepairInstance[] = "RepairInstance";
inline constexpr char kSystemSubject[] = "system";
inline constexpr char kCreateCloud[] = "CreateCloud";
inline constexpr char kCreateFolder[] = "CreateFolder";
inline constexpr char kSetAccessBindings[] = "SetAccessBindings";
inline constexpr char kUpdateAccessBindings[] = "UpdateAccessBindings";

struct OperationRow {
  dedicated::v1::Operation proto;
  std::string kind;
  std::string instance_id;  // "" for IAM operations
  // The folder of an instance operation, or the cloud/folder an IAM operation changed: where
  // OperationService checks permissions.
  std::string resource_id;
  bool cancel_requested = false;
  bool deadline_passed = false;
  int64_t created_us = 0;
  // Times a worker claimed it: 1 during its first step.
  int attempts = 0;
};

struct NewOperation {
  std::string id;
  std::string kind;
  std::string description;
  std::string instance_id;  // "" for IAM operations
  std::string resource_id;  // see OperationRow::resource_id
  std::string created_by;
  google::protobuf::Any metadata;
  // Set for operations that are done at once (e.g. an Update of names and labels).
  std::optional<google::protobuf::Any> response;
  // How long the operation may run before it fails with DEADLINE_EXCEEDED; zero = no deadline.
  absl::Duration timeout = absl::ZeroDuration();
};

absl::StatusOr<OperationRow> InsertOperation(pqxx::work& tx, DbSession& db, const NewOperation& op);
absl::StatusOr<OperationRow> LoadOperation(pqxx::transaction_base& tx, DbSession& db, const std::string& id, bool for_update);

// The unfinished operation of an instance, if any.
std::optional<OperationRow> LiveOperationOf(pqxx::work& tx, DbSession& db, const std::string& instance_id);

// Finishing is refused (returns false) unless the operation is not done and, when `lease_owner` is
// non-empty, the caller still holds its lease.
bool FinishOperationWithResponse(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& lease_owner,
                                 const google::protobuf::Any& response);
bool FinishOperationWithError(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& lease_owner,
                              const google::rpc::Status& error);
void RequestCancel(pqxx::work& tx, DbSession& db, const std::string& id);

// Claims up to `limit` runnable operations for `owner` for `lease`. Each claim is its own short
// transaction so the rows are visible to other workers as leased at once.
std::vector<std::string> ClaimOperations(pqxx::work& tx, DbSession& db, const std::string& owner, absl::Duration lease,
                                         int limit);
// Locks a claimed operation for one step, after its instance; nullopt if the lease was lost or the
// operation is done. Lock order everywhere: instance, then its operation, then replicas, then nodes.
// `instance`, if given, receives the instance row as locked (nullopt: none, or gone), so the step need not
// read it again.
std::optional<OperationRow> LockClaimedOperation(pqxx::work& tx, DbSession& db, const std::string& id,
                                                 const std::string& owner,
                                                 std::optional<InstanceRow>* instance = nullptr);
// Gives the lease back and schedules the next step.
void RescheduleOperation(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& owner,
                         absl::Duration after);
// Makes the unfinished operations of these instances runnable now (a replica report moved something).
// One statement: run it on its own (DbSession::Autocommit), never while holding an instance lock, since a
// step locks its instance and then its operation.
void WakeInstanceOperations(pqxx::transaction_base& tx, DbSession& db, const std::vector<std::string>& instance_ids);

struct OperationPage {
  std::vector<dedicated::v1::Operation> operations;
  std::optional<PageCursor> next;
};
OperationPage ListInstanceOperations(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                                     const std::optional<PageCursor>& after, int64_t page_size);

// Serialises requests carrying the same idempotency key (a transaction-level advisory lock), so that two
// concurrent retries cannot both pass the lookup below.
void LockIdempotencyKey(pqxx::work& tx, DbSession& db, const std::string& scope, const std::string& key);

// Idempotency: the operation recorded for (scope, key) if it is younger than 24 h. ALREADY_EXISTS when the
// key was used for a different request. Expired keys are removed.
absl::StatusOr<std::optional<std::string>> FindIdempotentOperation(pqxx::work& tx, DbSession& db,
                                                                   const std::string& scope, const std::string& key,
                                                                   const std::string& fingerprint);
void RecordIdempotencyKey(pqxx::work& tx, DbSession& db, const std::string& scope, const std::string& key,
                          const std::string& fingerprint, const std::string& operation_id);

google::rpc::Status MakeRpcStatus(absl::StatusCode code, const std::string& message);

}  // namespace dedicated::controlplane
