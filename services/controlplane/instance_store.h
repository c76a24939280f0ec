#pragma once
// SQL for the instances table. Functions run inside the caller's transaction so that a state change,
// its transition row and its operation commit together.

#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dedicated/v1/instance.pb.h"
#include "services/controlplane/list_query.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

// Internal status names match Instance.Status names, plus DELETED (invisible to the API).
inline constexpr char kDeleted[] = "DELETED";

struct InstanceRow {
  dedicated::v1::Instance proto;
  std::string status;  // the column, including DELETED
  int64_t created_us = 0;
};

// NOT_FOUND for absent and deleted instances alike. `for_update` locks the row.
absl::StatusOr<InstanceRow> LoadInstance(pqxx::transaction_base& tx, DbSession& db, const std::string& id,
                                         bool for_update);

// The live instance of an operation, locked (FOR UPDATE); nullopt when it has none (IAM operations) or
// the instance is gone.
std::optional<InstanceRow> LockInstanceOfOperation(pqxx::work& tx, DbSession& db, const std::string& operation_id);

// Live instances among `ids` (absent and deleted ones are simply missing from the result), by id.
// One statement, for answering many concurrent Gets at once.
std::map<std::string, InstanceRow> LoadInstances(pqxx::transaction_base& tx, DbSession& db,
                                                 const std::vector<std::string>& ids);

absl::Status InsertInstance(pqxx::work& tx, DbSession& db, const dedicated::v1::Instance& instance);

// Sets status (and message) and writes the transition row in the same transaction.
absl::Status SetInstanceStatus(pqxx::work& tx, DbSession& db, InstanceRow& row, const std::string& status,
                               const std::string& message, const std::string& operation_id);

// Name, description and labels from `instance`.
absl::Status UpdateInstanceFields(pqxx::work& tx, DbSession& db, const dedicated::v1::Instance& instance);
// Configuration and replica_count from `instance` (what its replicas should run).
absl::Status UpdateInstanceSpec(pqxx::work& tx, DbSession& db, const dedicated::v1::Instance& instance);

struct InstancePage {
  std::vector<dedicated::v1::Instance> instances;
  std::optional<PageCursor> next;
};
absl::StatusOr<InstancePage> ListInstances(pqxx::transaction_base& tx, DbSession& db, const std::string& folder_id,
                                           const InstanceFilter& filter, InstanceOrder order,
                                           const std::optional<PageCursor>& after, int64_t page_size);

// Writes a state_transitions row for an instance (replica_id empty) or a replica. `configuration` is the
// replica's (or the instance's): during a rolling update replicas of two configurations serve side by side.
// Replica to_states: PENDING, STARTING, READY, FAILED, STOPPED (observed by the agent), DRAINING and
// STOPPING (taken out of service by the controlplane), DELETED (row gone, GPUs freed). A replica serves
// only while its latest transition is READY.
void RecordTransition(pqxx::work& tx, DbSession& db, const std::string& instance_id, const std::string& replica_id,
                      const std::string& configuration, const std::string& from, const std::string& to,
                      const std::string& operation_id, const std::string& message);
// What follows every transition in its transaction (the billing hook), for statements that insert the
// state_transitions row themselves together with the state change (one round trip instead of two).
void AfterTransition(pqxx::work& tx, DbSession& db, const std::string& instance_id, const std::string& replica_id,
                     const std::string& from, const std::string& to);

std::string ModelUri(const std::string& folder_id, const std::string& instance_id);

}  // namespace dedicated::controlplane
