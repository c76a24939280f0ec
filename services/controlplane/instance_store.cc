#include "services/controlplane/instance_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/controlplane/billing_store.h"
#include "services/controlplane/row_codec.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

#define DI_INSTANCE_COLUMNS                                                                          \
  "id, folder_id, name, description, labels::text, model_id, configuration, replica_count, status, " \
  "status_message, (extract(epoch FROM created_at) * 1000000)::bigint AS created_us"

constexpr Sql kSelectInstance{"instance_select",
                              "SELECT " DI_INSTANCE_COLUMNS " FROM instances WHERE id = $1 AND deleted_at IS NULL"};
// $1 is a text[] literal; ids are validated ([A-Za-z0-9._-]) before they get here. One primary-key probe
// per id, whatever the batch's size: with `WHERE id = ANY($1)` the planner chose a sequential scan of the
// whole table for batches of a dozen ids or more (cheaper by its disk-based costs; on a cached table it
// is the most expensive plan: 1000 rows compared against 20 ids took 0.9 ms against 0.05 ms), and on
// a small table that was 28% of the Get batches (pg_stat_user_tables, docs/benchmarks.md, issue 2).
// OFFSET 0 keeps the subquery from being pulled up into a join, which the planner would hash the same way.
constexpr Sql kSelectInstances{"instance_select_many",
                               "SELECT i.* FROM unnest($1::text[]) AS wanted(id) CROSS JOIN LATERAL (SELECT "
                               DI_INSTANCE_COLUMNS " FROM instances WHERE id = wanted.id AND deleted_at IS NULL "
                               "OFFSET 0) AS i"};
constexpr Sql kSelectInstanceForUpdate{"instance_select_for_update",
                                       "SELECT " DI_INSTANCE_COLUMNS
                                       " FROM instances WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"};

// The instance of an operation, locked: the first lock of an operation step (the lock order of
// node_store.h), and the step's view of the instance in the same statement.
constexpr Sql kLockInstanceOfOperation{"instance_lock_of_operation",
                                       "SELECT " DI_INSTANCE_COLUMNS
                                       " FROM instances WHERE id = (SELECT instance_id FROM operations WHERE id = $1) "
                                       "AND deleted_at IS NULL FOR UPDATE"};

// The row and its first transition in one statement (one round trip less per Create). A data-modifying
// CTE runs whether or not the outer statement reads it, and the foreign key of the transition, checked at
// the end of the statement, sees the instance inserted by it.
constexpr Sql kInsertInstance{"instance_insert", R"sql(
  WITH inserted AS (
    INSERT INTO instances (id, folder_id, name, description, labels, model_id, configuration, replica_count, status)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9))
  INSERT INTO state_transitions (instance_id, replica_id, configuration, from_state, to_state, operation_id, message)
  VALUES ($1, NULL, $7, '', $9, NULL, ''))sql"};

constexpr Sql kUpdateStatus{"instance_update_status", R"sql(
  UPDATE instances SET status = $2, status_message = $3, updated_at = now(),
         deleted_at = CASE WHEN $2 = 'DELETED' THEN now() ELSE NULL END
  WHERE id = $1)sql"};
// kUpdateStatus and the transition it makes, in one round trip. $4 configuration, $5 the old status,
// $6 operation id ('' for none).
constexpr Sql kUpdateStatusAndRecord{"instance_update_status_record", R"sql(
  WITH updated AS (
    UPDATE instances SET status = $2, status_message = $3, updated_at = now(),
           deleted_at = CASE WHEN $2 = 'DELETED' THEN now() ELSE NULL END
    WHERE id = $1)
  INSERT INTO state_transitions (instance_id, replica_id, configuration, from_state, to_state, operation_id, message)
  VALUES ($1, NULL, $4, $5, $2, NULLIF($6, ''), $3))sql"};

constexpr Sql kUpdateFields{"instance_update_fields", R"sql(
  UPDATE instances SET name = $2, description = $3, labels = $4::jsonb, updated_at = now()
  WHERE id = $1 AND deleted_at IS NULL)sql"};
constexpr Sql kUpdateSpec{"instance_update_spec", R"sql(
  UPDATE instances SET configuration = $2, replica_count = $3, updated_at = now()
  WHERE id = $1 AND deleted_at IS NULL)sql"};

constexpr Sql kInsertTransition{"transition_insert", R"sql(
  INSERT INTO state_transitions (instance_id, replica_id, configuration, from_state, to_state, operation_id, message)
  VALUES ($1, NULLIF($2, ''), $3, $4, $5, NULLIF($6, ''), $7))sql"};

// Keyset pagination, one statement per order so that each can use the (folder_id, created_at, id) index.
// $2..$4: optional filters (NULL = any). $5: has cursor. $6, $7: cursor key and id. $8: limit.
#define DI_LIST_PREFIX                                                         \
  "SELECT " DI_INSTANCE_COLUMNS                                                \
  " FROM instances WHERE folder_id = $1 AND deleted_at IS NULL"                \
  " AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR name = $3)" \
  " AND ($4::text IS NULL OR model_id = $4) "
#define DI_TS_FROM_US "(timestamptz 'epoch' + $6::bigint * interval '1 microsecond')"

constexpr Sql kListCreatedAsc{"instance_list_created_asc",
                              DI_LIST_PREFIX "AND (NOT $5 OR (created_at, id) > (" DI_TS_FROM_US
                                             ", $7)) ORDER BY created_at, id LIMIT $8"};
constexpr Sql kListCreatedDesc{"instance_list_created_desc",
                               DI_LIST_PREFIX "AND (NOT $5 OR (created_at, id) < (" DI_TS_FROM_US
                                              ", $7)) ORDER BY created_at DESC, id DESC LIMIT $8"};
constexpr Sql kListNameAsc{"instance_list_name_asc",
                           DI_LIST_PREFIX "AND (NOT $5 OR (name, id) > ($6, $7)) ORDER BY name, id LIMIT $8"};
constexpr Sql kListNameDesc{"instance_list_name_desc", DI_LIST_PREFIX
                            "AND (NOT $5 OR (name, id) < ($6, $7)) ORDER BY name DESC, id DESC LIMIT $8"};

InstanceRow RowToInstance(const pqxx::row& r) {
  InstanceRow row;
  auto& p = row.proto;
  p.set_id(r[0].as<std::string>());
  p.set_folder_id(r[1].as<std::string>());
  p.set_name(r[2].as<std::string>());
  p.set_description(r[3].as<std::string>());
  ParseLabelsJson(r[4].as<std::string>(), p.mutable_labels());
  p.set_model_id(r[5].as<std::string>());
  p.set_configuration(r[6].as<std::string>());
  p.set_replica_count(r[7].as<int64_t>());
  row.status = r[8].as<std::string>();
  dedicated::v1::Instance::Status status;
  p.set_status(dedicated::v1::Instance::Status_Parse(row.status, &status)
                   ? status
                   : dedicated::v1::Instance::STATUS_UNSPECIFIED);
  p.set_status_message(r[9].as<std::string>());
  row.created_us = r[10].as<int64_t>();
  SetTimestampMicros(p.mutable_created_at(), row.created_us);
  p.set_model_uri(ModelUri(p.folder_id(), p.id()));
  return row;
}

const char* NullableText(const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; }

}  // namespace

std::string ModelUri(const std::string& folder_id, const std::string& instance_id) {
  return absl::StrCat("dedicated://", folder_id, "/", instance_id);
}

absl::StatusOr<InstanceRow> LoadInstance(pqxx::transaction_base& tx, DbSession& db, const std::string& id,
                                         bool for_update) {
  pqxx::result r = db.Exec(tx, for_update ? kSelectInstanceForUpdate : kSelectInstance, id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("instance ", id, " not found"));
  return RowToInstance(r[0]);
}

std::optional<InstanceRow> LockInstanceOfOperation(pqxx::work& tx, DbSession& db, const std::string& operation_id) {
  pqxx::result r = db.Exec(tx, kLockInstanceOfOperation, operation_id);
  if (r.empty()) return std::nullopt;
  return RowToInstance(r[0]);
}

std::map<std::string, InstanceRow> LoadInstances(pqxx::transaction_base& tx, DbSession& db,
                                                 const std::vector<std::string>& ids) {
  std::string array = "{";
  for (size_t i = 0; i < ids.size(); ++i) absl::StrAppend(&array, i == 0 ? "" : ",", "\"", ids[i], "\"");
  array += "}";
  std::map<std::string, InstanceRow> out;
  for (const auto& r : db.Exec(tx, kSelectInstances, array)) {
    InstanceRow row = RowToInstance(r);
    out.emplace(row.proto.id(), std::move(row));
  }
  return out;
}

absl::Status InsertInstance(pqxx::work& tx, DbSession& db, const dedicated::v1::Instance& i) {
  const std::string status = dedicated::v1::Instance::Status_Name(i.status());
  db.Exec(tx, kInsertInstance, i.id(), i.folder_id(), i.name(), i.description(), LabelsJson(i.labels()), i.model_id(),
          i.configuration(), i.replica_count(), status);
  AfterTransition(tx, db, i.id(), "", "", status);
  return absl::OkStatus();
}

absl::Status SetInstanceStatus(pqxx::work& tx, DbSession& db, InstanceRow& row, const std::string& status,
                               const std::string& message, const std::string& operation_id) {
  if (status != row.status) {
    db.Exec(tx, kUpdateStatusAndRecord, row.proto.id(), status, message, row.proto.configuration(), row.status,
            operation_id);
    AfterTransition(tx, db, row.proto.id(), "", row.status, status);
  } else {
    db.Exec(tx, kUpdateStatus, row.proto.id(), status, message);
    // No transition, but what serves may have changed without one (a node that came back): bill it.
    if (status == "ACTIVE") UpdateBillableIntervals(tx, db, row.proto.id(), "", status);
  }
  row.status = status;
  dedicated::v1::Instance::Status parsed;
  if (dedicated::v1::Instance::Status_Parse(status, &parsed)) row.proto.set_status(parsed);
  row.proto.set_status_message(message);
  return absl::OkStatus();
}

absl::Status UpdateInstanceFields(pqxx::work& tx, DbSession& db, const dedicated::v1::Instance& i) {
  pqxx::result r = db.Exec(tx, kUpdateFields, i.id(), i.name(), i.description(), LabelsJson(i.labels()));
  if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("instance ", i.id(), " not found"));
  return absl::OkStatus();
}

absl::Status UpdateInstanceSpec(pqxx::work& tx, DbSession& db, const dedicated::v1::Instance& i) {
  pqxx::result r = db.Exec(tx, kUpdateSpec, i.id(), i.configuration(), i.replica_count());
  if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("instance ", i.id(), " not found"));
  return absl::OkStatus();
}

absl::StatusOr<InstancePage> ListInstances(pqxx::transaction_base& tx, DbSession& db, const std::string& folder_id,
                                           const InstanceFilter& filter, InstanceOrder order,
                                           const std::optional<PageCursor>& after, int64_t page_size) {
  const Sql* sql = nullptr;
  bool by_time = false;
  switch (order) {
    case InstanceOrder::kCreatedAsc:
      sql = &kListCreatedAsc;
      by_time = true;
      break;
    case InstanceOrder::kCreatedDesc:
      sql = &kListCreatedDesc;
      by_time = true;
      break;
    case InstanceOrder::kNameAsc:
      sql = &kListNameAsc;
      break;
    case InstanceOrder::kNameDesc:
      sql = &kListNameDesc;
      break;
  }
  std::string key = after ? after->sort_key : (by_time ? "0" : "");
  if (by_time) {
    int64_t us;
    if (!absl::SimpleAtoi(key, &us)) return absl::InvalidArgumentError("page_token: malformed");
  }
  std::string after_id = after ? after->id : "";
  // One extra row tells whether another page exists.
  pqxx::result r = db.Exec(tx, *sql, folder_id, NullableText(filter.status), NullableText(filter.name),
                           NullableText(filter.model_id), after.has_value(), key, after_id, page_size + 1);
  InstancePage page;
  for (const auto& row : r) {
    if (static_cast<int64_t>(page.instances.size()) == page_size) {
      const InstanceRow& last_row = RowToInstance(r[static_cast<int>(page_size) - 1]);
      page.next = PageCursor{by_time ? absl::StrCat(last_row.created_us) : last_row.proto.name(), last_row.proto.id()};
      break;
    }
    page.instances.push_back(RowToInstance(row).proto);
  }
  return page;
}

void RecordTransition(pqxx::work& tx, DbSession& db, const std::string& instance_id, const std::string& replica_id,
                      const std::string& configuration, const std::string& from, const std::string& to,
                      const std::string& operation_id, const std::string& message) {
  db.Exec(tx, kInsertTransition, instance_id, replica_id, configuration, from, to, operation_id, message);
  AfterTransition(tx, db, instance_id, replica_id, from, to);
}

void AfterTransition(pqxx::work& tx, DbSession& db, const std::string& instance_id, const std::string& replica_id,
                     const std::string& from, const std::string& to) {
  // Billing follows the transitions, in their transaction (billing_store.h). Only those that touch a
  // serving state can open or close an interval: an interval needs its instance ACTIVE and its replica
  // READY, and every change of either is recorded here. The rest (CREATING, PENDING, STARTING, ...: most
  // transitions of a Create) skip the hook's three statements.
  const bool may_change_serving =
      replica_id.empty() ? (from == "ACTIVE" || to == "ACTIVE") : (from == "READY" || to == "READY");
  if (may_change_serving) UpdateBillableIntervals(tx, db, instance_id, replica_id, to);
}

}  // namespace dedicated::controlplane
