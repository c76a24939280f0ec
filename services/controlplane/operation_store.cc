#include "services/controlplane/operation_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/controlplane/instance_store.h"
#include "services/controlplane/row_codec.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

#define DI_OPERATION_COLUMNS                                                                                 \
  "id, kind, description, coalesce(instance_id, ''), created_by, (extract(epoch FROM created_at) * 1000000)::bigint, "  \
  "(extract(epoch FROM modified_at) * 1000000)::bigint, done, metadata, error, response, cancel_requested, " \
  "(deadline_at IS NOT NULL AND deadline_at < now()), resource_id, attempts"

constexpr Sql kInsert{"operation_insert", R"sql(
  INSERT INTO operations (id, kind, description, instance_id, created_by, metadata, done, response, deadline_at,
                          resource_id)
  VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8,
          CASE WHEN $9::bigint > 0 THEN now() + $9::bigint * interval '1 millisecond' END, $10))sql"};
constexpr Sql kSelect{"operation_select", "SELECT " DI_OPERATION_COLUMNS " FROM operations WHERE id = $1"};
constexpr Sql kSelectForUpdate{"operation_select_for_update",
                               "SELECT " DI_OPERATION_COLUMNS " FROM operations WHERE id = $1 FOR UPDATE"};
constexpr Sql kSelectLive{"operation_select_live",
                          "SELECT " DI_OPERATION_COLUMNS
                          " FROM operations WHERE instance_id = $1 AND NOT done FOR UPDATE"};
constexpr Sql kFinishResponse{"operation_finish_response", R"sql(
  UPDATE operations SET done = true, response = $3, lease_owner = NULL, lease_expires_at = NULL, modified_at = now()
  WHERE id = $1 AND NOT done AND ($2 = '' OR lease_owner = $2))sql"};
constexpr Sql kFinishError{"operation_finish_error", R"sql(
  UPDATE operations SET done = true, error = $3, lease_owner = NULL, lease_expires_at = NULL, modified_at = now()
  WHERE id = $1 AND NOT done AND ($2 = '' OR lease_owner = $2))sql"};
constexpr Sql kRequestCancel{"operation_request_cancel", R"sql(
  UPDATE operations SET cancel_requested = true, next_run_at = now(), modified_at = now()
  WHERE id = $1 AND NOT done)sql"};
constexpr Sql kClaim{"operation_claim", R"sql(
  UPDATE operations SET lease_owner = $1, lease_expires_at = now() + $2::bigint * interval '1 millisecond',
                        attempts = attempts + 1
  WHERE id IN (SELECT id FROM operations
               WHERE NOT done AND next_run_at <= now() AND (lease_expires_at IS NULL OR lease_expires_at < now())
               ORDER BY next_run_at LIMIT $3 FOR UPDATE SKIP LOCKED)
  RETURNING id)sql"};
constexpr Sql kLockClaimed{"operation_lock_claimed",
                           "SELECT " DI_OPERATION_COLUMNS
                           " FROM operations WHERE id = $1 AND lease_owner = $2 AND NOT done FOR UPDATE"};
constexpr Sql kReschedule{"operation_reschedule", R"sql(
  UPDATE operations SET lease_owner = NULL, lease_expires_at = NULL,
                        next_run_at = now() + $3::bigint * interval '1 millisecond'
  WHERE id = $1 AND lease_owner = $2 AND NOT done)sql"};
constexpr Sql kWakeInstances{"operation_wake_instances", R"sql(
  UPDATE operations SET next_run_at = now()
  WHERE instance_id = ANY(string_to_array($1, ',')) AND NOT done AND next_run_at > now())sql"};
constexpr Sql kListByInstance{"operation_list_by_instance",
                              "SELECT " DI_OPERATION_COLUMNS R"sql( FROM operations
  WHERE instance_id = $1
    AND (NOT $2 OR (created_at, id) < (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4))
  ORDER BY created_at DESC, id DESC LIMIT $5)sql"};
constexpr Sql kLockKey{"idempotency_lock",
                       "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))"};
constexpr Sql kFindKey{"idempotency_find", R"sql(
  SELECT request_fingerprint, operation_id, expires_at < now() FROM idempotency_keys
  WHERE scope = $1 AND key = $2 FOR UPDATE)sql"};
constexpr Sql kDeleteKey{"idempotency_delete", "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2"};
constexpr Sql kInsertKey{"idempotency_insert", R"sql(
  INSERT INTO idempotency_keys (scope, key, request_fingerprint, operation_id, expires_at)
  VALUES ($1, $2, $3, $4, now() + interval '24 hours'))sql"};

std::string Bytes(const pqxx::field& f) {
  if (f.is_null()) return "";
  pqxx::binarystring b(f);
  return b.str();
}

OperationRow RowToOperation(const pqxx::row& r) {
  OperationRow row;
  auto& p = row.proto;
  p.set_id(r[0].as<std::string>());
  row.kind = r[1].as<std::string>();
  p.set_description(r[2].as<std::string>());
  row.instance_id = r[3].as<std::string>();
  p.set_created_by(r[4].as<std::string>());
  row.created_us = r[5].as<int64_t>();
  SetTimestampMicros(p.mutable_created_at(), row.created_us);
  SetTimestampMicros(p.mutable_modified_at(), r[6].as<int64_t>());
  p.set_done(r[7].as<bool>());
  p.mutable_metadata()->ParseFromString(Bytes(r[8]));
  if (!r[9].is_null()) p.mutable_error()->ParseFromString(Bytes(r[9]));
  if (!r[10].is_null()) p.mutable_response()->ParseFromString(Bytes(r[10]));
  row.cancel_requested = r[11].as<bool>();
  row.deadline_passed = r[12].as<bool>();
  row.resource_id = r[13].as<std::string>();
  row.attempts = r[14].as<int>();
  return row;
}

pqxx::binarystring Serialize(const google::protobuf::Message& m) {
  std::string bytes = m.SerializeAsString();
  return pqxx::binarystring(bytes.data(), bytes.size());
}

}  // namespace

google::rpc::Status MakeRpcStatus(absl::StatusCode code, const std::string& message) {
  google::rpc::Status s;
  s.set_code(static_cast<int>(code));
  s.set_message(message);
  return s;
}

absl::StatusOr<OperationRow> InsertOperation(pqxx::work& tx, DbSession& db, const NewOperation& op) {
  bool done = op.response.has_value();
  if (done) {
    db.Exec(tx, kInsert, op.id, op.kind, op.description, op.instance_id, op.created_by, Serialize(op.metadata), true,
            Serialize(*op.response), int64_t{0}, op.resource_id);
  } else {
    db.Exec(tx, kInsert, op.id, op.kind, op.description, op.instance_id, op.created_by, Serialize(op.metadata), false,
            nullptr, absl::ToInt64Milliseconds(op.timeout), op.resource_id);
  }
  return LoadOperation(tx, db, op.id, /*for_update=*/false);
}

absl::StatusOr<OperationRow> LoadOperation(pqxx::transaction_base& tx, DbSession& db, const std::string& id, bool for_update) {
  pqxx::result r = db.Exec(tx, for_update ? kSelectForUpdate : kSelect, id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("operation ", id, " not found"));
  return RowToOperation(r[0]);
}

std::optional<OperationRow> LiveOperationOf(pqxx::work& tx, DbSession& db, const std::string& instance_id) {
  pqxx::result r = db.Exec(tx, kSelectLive, instance_id);
  if (r.empty()) return std::nullopt;
  return RowToOperation(r[0]);
}

bool FinishOperationWithResponse(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& lease_owner,
                                 const google::protobuf::Any& response) {
  return db.Exec(tx, kFinishResponse, id, lease_owner, Serialize(response)).affected_rows() == 1;
}

bool FinishOperationWithError(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& lease_owner,
                              const google::rpc::Status& error) {
  return db.Exec(tx, kFinishError, id, lease_owner, Serialize(error)).affected_rows() == 1;
}

void RequestCancel(pqxx::work& tx, DbSession& db, const std::string& id) { db.Exec(tx, kRequestCancel, id); }

std::vector<std::string> ClaimOperations(pqxx::work& tx, DbSession& db, const std::string& owner, absl::Duration lease,
                                         int limit) {
  std::vector<std::string> ids;
  for (const auto& row : db.Exec(tx, kClaim, owner, absl::ToInt64Milliseconds(lease), limit)) {
    ids.push_back(row[0].as<std::string>());
  }
  return ids;
}

std::optional<OperationRow> LockClaimedOperation(pqxx::work& tx, DbSession& db, const std::string& id,
                                                 const std::string& owner, std::optional<InstanceRow>* instance) {
  // The instance first: everything that locks an instance and its operation does it in that order.
  std::optional<InstanceRow> locked = LockInstanceOfOperation(tx, db, id);
  if (instance != nullptr) *instance = std::move(locked);
  pqxx::result r = db.Exec(tx, kLockClaimed, id, owner);
  if (r.empty()) return std::nullopt;
  return RowToOperation(r[0]);
}

void RescheduleOperation(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& owner,
                         absl::Duration after) {
  db.Exec(tx, kReschedule, id, owner, absl::ToInt64Milliseconds(after));
}

void WakeInstanceOperations(pqxx::transaction_base& tx, DbSession& db, const std::vector<std::string>& instance_ids) {
  if (instance_ids.empty()) return;
  db.Exec(tx, kWakeInstances, absl::StrJoin(instance_ids, ","));
}

OperationPage ListInstanceOperations(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                                     const std::optional<PageCursor>& after, int64_t page_size) {
  int64_t after_us = 0;
  if (after) (void)absl::SimpleAtoi(after->sort_key, &after_us);
  pqxx::result r = db.Exec(tx, kListByInstance, instance_id, after.has_value(), after_us,
                           after ? after->id : std::string(), page_size + 1);
  OperationPage page;
  for (int i = 0; i < static_cast<int>(r.size()); ++i) {
    if (i == page_size) {
      OperationRow last = RowToOperation(r[i - 1]);
      page.next = PageCursor{absl::StrCat(last.created_us), last.proto.id()};
      break;
    }
    page.operations.push_back(RowToOperation(r[i]).proto);
  }
  return page;
}

void LockIdempotencyKey(pqxx::work& tx, DbSession& db, const std::string& scope, const std::string& key) {
  db.Exec(tx, kLockKey, scope, key);
}

absl::StatusOr<std::optional<std::string>> FindIdempotentOperation(pqxx::work& tx, DbSession& db,
                                                                   const std::string& scope, const std::string& key,
                                                                   const std::string& fingerprint) {
  pqxx::result r = db.Exec(tx, kFindKey, scope, key);
  if (r.empty()) return std::optional<std::string>();
  if (r[0][2].as<bool>()) {  // expired: the key may be used afresh
    db.Exec(tx, kDeleteKey, scope, key);
    return std::optional<std::string>();
  }
  if (r[0][0].as<std::string>() != fingerprint) {
    return absl::AlreadyExistsError(absl::StrCat(
        "idempotency-key ", key, " was already used for a different request (operation ",
        r[0][1].as<std::string>(), "); use a new key for a new request"));
  }
  return std::optional<std::string>(r[0][1].as<std::string>());
}

void RecordIdempotencyKey(pqxx::work& tx, DbSession& db, const std::string& scope, const std::string& key,
                          const std::string& fingerprint, const std::string& operation_id) {
  db.Exec(tx, kInsertKey, scope, key, fingerprint, operation_id);
}

}  // namespace dedicated::controlplane
