#include "services/controlplane/node_store.h"

#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/controlplane/instance_store.h"
#include "services/controlplane/row_codec.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

constexpr Sql kUpsertNode{"node_upsert", R"sql(
  INSERT INTO nodes (id, name, gpu_type, gpu_count, gpu_memory_bytes, labels, address, engine_kind, agent_version,
                     state, last_heartbeat_at)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, 'READY', di_now())
  ON CONFLICT (name) DO UPDATE SET
    gpu_type = EXCLUDED.gpu_type, gpu_count = EXCLUDED.gpu_count, gpu_memory_bytes = EXCLUDED.gpu_memory_bytes,
    labels = EXCLUDED.labels, address = EXCLUDED.address, engine_kind = EXCLUDED.engine_kind,
    agent_version = EXCLUDED.agent_version,
    state = CASE WHEN nodes.state = 'DRAINING' THEN 'DRAINING' ELSE 'READY' END,
    last_heartbeat_at = di_now(), assignment_version = nodes.assignment_version + 1
  RETURNING id)sql"};
constexpr Sql kEnsureGpus{"gpus_ensure", R"sql(
  INSERT INTO gpus (node_id, gpu_index) SELECT $1, g FROM generate_series(0, $2 - 1) AS g
  ON CONFLICT DO NOTHING)sql"};
// GPUs beyond a shrunken count go away unless a replica still holds them.
constexpr Sql kTrimGpus{"gpus_trim", "DELETE FROM gpus WHERE node_id = $1 AND gpu_index >= $2 AND replica_id IS NULL"};
// A heartbeat in one statement: it records the beat of a node that is not DOWN and returns its state,
// then what the database knows of the replicas the agent reports ($2, ids joined by ','; NULLs when none
// match). A plain UPDATE, so the row is written once: locking it first (to read its state before the
// update) wrote it twice, 3 WAL records per beat instead of 2, and made the idle fleet's PostgreSQL time per
// heartbeat 3-4.6x that of the earlier separate UPDATE (docs/benchmarks.md, issue 4, third session). No row
// when the node is DOWN (also when the node monitor marked it DOWN meanwhile: READ COMMITTED rechecks
// `state` on the newest version) or unknown: kHeartbeatBack then.
constexpr Sql kHeartbeat{"node_heartbeat", R"sql(
  WITH beat AS (UPDATE nodes SET last_heartbeat_at = di_now() WHERE id = $1 AND state <> 'DOWN' RETURNING state)
  SELECT beat.state, r.id, r.instance_id, r.desired_state, r.state, r.endpoint, r.status_message
  FROM beat LEFT JOIN replicas r ON r.node_id = $1 AND r.id = ANY(string_to_array($2, ',')))sql"};
// The rare heartbeat of a DOWN node (or an unknown one): as kHeartbeat, but it brings the node back to
// READY and returns the state the node had (DOWN: this beat brought it back). The node's row is locked
// first so that the node monitor's DOWN and this READY are seen in one order.
constexpr Sql kHeartbeatBack{"node_heartbeat_back", R"sql(
  WITH old AS (SELECT id, state FROM nodes WHERE id = $1 FOR UPDATE),
       beat AS (UPDATE nodes n SET last_heartbeat_at = di_now(),
                                   state = CASE WHEN n.state = 'DOWN' THEN 'READY' ELSE n.state END
                FROM old WHERE n.id = old.id RETURNING old.state)
  SELECT beat.state, r.id, r.instance_id, r.desired_state, r.state, r.endpoint, r.status_message
  FROM beat LEFT JOIN replicas r ON r.node_id = $1 AND r.id = ANY(string_to_array($2, ',')))sql"};
constexpr Sql kReplicasOfInstance{"replicas_of_instance", R"sql(
  SELECT r.id, r.instance_id, r.ordinal, r.node_id, n.state, r.desired_state, r.state, r.endpoint, r.status_message,
         extract(epoch FROM now() - r.updated_at)::bigint, r.configuration,
         coalesce(extract(epoch FROM now() - r.draining_since) * 1000, 0)::bigint
  FROM replicas r JOIN nodes n ON n.id = r.node_id WHERE r.instance_id = $1 ORDER BY r.ordinal, r.id)sql"};
constexpr Sql kReplicaForReport{"replica_for_report", R"sql(
  SELECT instance_id, desired_state, state, endpoint, status_message, configuration FROM replicas
  WHERE id = $1 AND node_id = $2 FOR UPDATE)sql"};
constexpr Sql kUpdateReplicaState{"replica_update_state", R"sql(
  UPDATE replicas SET state = $2, endpoint = $3, status_message = $4, updated_at = now() WHERE id = $1)sql"};
// kUpdateReplicaState and its transition in one round trip. $5 instance, $6 configuration, $7 old state.
constexpr Sql kUpdateReplicaStateAndRecord{"replica_update_state_record", R"sql(
  WITH updated AS (
    UPDATE replicas SET state = $2, endpoint = $3, status_message = $4, updated_at = now() WHERE id = $1)
  INSERT INTO state_transitions (instance_id, replica_id, configuration, from_state, to_state, operation_id, message)
  VALUES ($5, $1, $6, $7, $2, NULL, $4))sql"};
constexpr Sql kDeleteReplica{"replica_delete", "DELETE FROM replicas WHERE id = $1"};
constexpr Sql kBumpNode{"node_bump_version",
                        "UPDATE nodes SET assignment_version = assignment_version + 1 WHERE id = $1"};
constexpr Sql kFreeGpus{"nodes_with_free_gpus", R"sql(
  SELECT id, name, free_gpus FROM nodes
  WHERE state = 'READY' AND NOT drained AND gpu_type = $1 AND free_gpus > 0 ORDER BY name)sql"};
// Index nodes_best_fit: the first `limit` nodes in best-fit order that no one else holds, locked. SKIP
// LOCKED: a node another placer is taking from (its take's trigger holds the row until that placer
// commits) is passed over for the next best instead of queueing behind that placer. In READ COMMITTED a
// row changed since the snapshot is rechecked on its newest version, so free_gpus is current.
constexpr Sql kBestFitGpus{"nodes_best_fit", R"sql(
  SELECT id, name, free_gpus FROM nodes
  WHERE state = 'READY' AND NOT drained AND gpu_type = $1 AND free_gpus >= $2
    AND id <> ALL(string_to_array($4, ','))
  ORDER BY free_gpus, name LIMIT $3 FOR UPDATE SKIP LOCKED)sql"};
constexpr Sql kInsertReplica{"replica_insert", R"sql(
  INSERT INTO replicas (id, instance_id, ordinal, node_id, configuration, desired_state, state)
  VALUES ($1, $2, $3, $4, $5, 'RUNNING', 'PENDING'))sql"};
// The lowest free indices (neighbours share the fastest links on common topologies). SKIP LOCKED: GPUs a
// concurrent placer is taking on the same node are left to it, so two placements that both fit do not
// collide; one that no longer fits takes fewer rows than asked and is retried.
constexpr Sql kTakeGpus{"gpus_take", R"sql(
  UPDATE gpus SET replica_id = $1
  WHERE node_id = $2 AND gpu_index IN (SELECT gpu_index FROM gpus WHERE node_id = $2 AND replica_id IS NULL
                                       ORDER BY gpu_index LIMIT $3 FOR UPDATE SKIP LOCKED))sql"};
constexpr Sql kStopReplica{"replica_stop", R"sql(
  UPDATE replicas SET desired_state = 'STOPPED', draining_since = NULL, updated_at = now() WHERE id = $1)sql"};
constexpr Sql kDrainReplica{"replica_drain", R"sql(
  UPDATE replicas SET desired_state = 'DRAINING', draining_since = now(), updated_at = now() WHERE id = $1)sql"};
constexpr Sql kAssignments{"node_assignments", R"sql(
  SELECT r.id, r.instance_id, i.folder_id, i.model_id, r.configuration, r.desired_state,
         coalesce((SELECT string_agg(g.gpu_index::text, ',' ORDER BY g.gpu_index) FROM gpus g
                   WHERE g.replica_id = r.id), '')
  FROM replicas r JOIN instances i ON i.id = r.instance_id WHERE r.node_id = $1 ORDER BY r.id)sql"};
constexpr Sql kNodeVersion{"node_version", "SELECT assignment_version FROM nodes WHERE id = $1"};
// All nodes: a scan of one small row per node is cheaper than looking up a list of a thousand ids.
constexpr Sql kNodeVersions{"node_versions", "SELECT id, assignment_version FROM nodes"};
constexpr Sql kMarkDown{"nodes_mark_down", R"sql(
  UPDATE nodes SET state = 'DOWN'
  WHERE state <> 'DOWN' AND last_heartbeat_at < di_now() - $1::bigint * interval '1 millisecond'
  RETURNING id)sql"};
constexpr Sql kReportedReplicas{"replicas_reported", R"sql(
  SELECT id, instance_id, desired_state, state, endpoint, status_message FROM replicas
  WHERE node_id = $1 AND id = ANY(string_to_array($2, ',')))sql"};
constexpr Sql kLockInstances{"instances_lock", R"sql(
  SELECT id, status FROM instances WHERE id = ANY(string_to_array($1, ',')) ORDER BY id FOR UPDATE)sql"};
constexpr Sql kSilentNodes{"nodes_silent", R"sql(
  SELECT id FROM nodes
  WHERE state <> 'DOWN' AND last_heartbeat_at < di_now() - $1::bigint * interval '1 millisecond')sql"};
constexpr Sql kInstancesOnNodes{"instances_on_nodes", R"sql(
  SELECT DISTINCT instance_id FROM replicas WHERE node_id = ANY(string_to_array($1, ',')))sql"};

std::vector<int> ParseIndices(const std::string& csv) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    int v;
    if (absl::SimpleAtoi(part, &v)) out.push_back(v);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> RegisterNode(pqxx::work& tx, DbSession& db, const dedicated::v1::RegisterNodeRequest& req,
                                         const std::string& new_id) {
  pqxx::result r = db.Exec(tx, kUpsertNode, new_id, req.name(), req.gpu_type(), req.gpu_count(), req.gpu_memory_bytes(),
                           LabelsJson(req.labels()), req.address(), req.engine_kind(), req.agent_version());
  std::string id = r[0][0].as<std::string>();
  db.Exec(tx, kEnsureGpus, id, req.gpu_count());
  db.Exec(tx, kTrimGpus, id, req.gpu_count());
  return id;
}

std::vector<ReplicaRow> ReplicasOfInstance(pqxx::work& tx, DbSession& db, const std::string& instance_id) {
  std::vector<ReplicaRow> out;
  for (const auto& r : db.Exec(tx, kReplicasOfInstance, instance_id)) {
    ReplicaRow row;
    row.id = r[0].as<std::string>();
    row.instance_id = r[1].as<std::string>();
    row.ordinal = r[2].as<int>();
    row.node_id = r[3].as<std::string>();
    row.node_state = r[4].as<std::string>();
    row.desired_state = r[5].as<std::string>();
    row.state = r[6].as<std::string>();
    row.endpoint = r[7].as<std::string>();
    row.status_message = r[8].as<std::string>();
    row.seconds_since_update = r[9].as<int64_t>();
    row.configuration = r[10].as<std::string>();
    row.draining_for = absl::Milliseconds(r[11].as<int64_t>());
    out.push_back(std::move(row));
  }
  return out;
}

std::optional<std::string> ApplyReplicaStatus(pqxx::work& tx, DbSession& db, const std::string& node_id,
                                              const dedicated::v1::ReplicaStatus& status) {
  pqxx::result r = db.Exec(tx, kReplicaForReport, status.replica_id(), node_id);
  if (r.empty()) return std::nullopt;
  std::string instance_id = r[0][0].as<std::string>();
  std::string desired = r[0][1].as<std::string>();
  std::string old_state = r[0][2].as<std::string>();
  std::string configuration = r[0][5].as<std::string>();
  std::string state = dedicated::v1::ReplicaStatus::State_Name(status.state());
  if (status.state() == dedicated::v1::ReplicaStatus::STATE_UNSPECIFIED) return instance_id;
  if (desired == "STOPPED" && (state == "STOPPED" || state == "FAILED")) {
    // The engine is gone: the replica and its GPU reservation go with it.
    RecordTransition(tx, db, instance_id, status.replica_id(), configuration, old_state, "DELETED", "",
                     status.message());
    db.Exec(tx, kDeleteReplica, status.replica_id());
    db.Exec(tx, kBumpNode, node_id);
    return instance_id;
  }
  if (state == old_state && status.endpoint() == r[0][3].as<std::string>() &&
      status.message() == r[0][4].as<std::string>()) {
    return instance_id;  // a heartbeat repeating what we know
  }
  if (state != old_state) {
    db.Exec(tx, kUpdateReplicaStateAndRecord, status.replica_id(), state, status.endpoint(), status.message(),
            instance_id, configuration, old_state);
    AfterTransition(tx, db, instance_id, status.replica_id(), old_state, state);
  } else {
    db.Exec(tx, kUpdateReplicaState, status.replica_id(), state, status.endpoint(), status.message());
  }
  return instance_id;
}

std::vector<FreeGpus> ReadFreeGpus(pqxx::work& tx, DbSession& db, const std::string& gpu_type) {
  std::vector<FreeGpus> out;
  for (const auto& r : db.Exec(tx, kFreeGpus, gpu_type)) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int>()});
  }
  return out;
}

std::vector<FreeGpus> LockBestFitNodes(pqxx::work& tx, DbSession& db, const std::string& gpu_type, int min_free,
                                       int limit, const std::set<std::string>& excluded) {
  std::vector<FreeGpus> out;
  for (const auto& r : db.Exec(tx, kBestFitGpus, gpu_type, min_free, limit, absl::StrJoin(excluded, ","))) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int>()});
  }
  return out;
}

absl::Status InsertReplica(pqxx::work& tx, DbSession& db, const std::string& replica_id, const std::string& instance_id,
                           const std::string& configuration, int ordinal, const std::string& node_id, int gpu_count) {
  db.Exec(tx, kInsertReplica, replica_id, instance_id, ordinal, node_id, configuration);
  pqxx::result r = db.Exec(tx, kTakeGpus, replica_id, node_id, gpu_count);
  if (r.affected_rows() != static_cast<size_t>(gpu_count)) {
    return absl::AbortedError("a GPU chosen for placement was taken concurrently; retrying");
  }
  RecordTransition(tx, db, instance_id, replica_id, configuration, "", "PENDING", "", "placed on node " + node_id);
  db.Exec(tx, kBumpNode, node_id);
  return absl::OkStatus();
}

namespace {
// `only`: the replicas to retire; nullptr: all of the instance's.
int RetireMatching(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                   const std::set<std::string>* only, const RetireOptions& options) {
  int remaining = 0;
  for (ReplicaRow& replica : ReplicasOfInstance(tx, db, instance_id)) {
    if (only != nullptr && !only->contains(replica.id)) continue;
    const bool serving = replica.state == "READY" && replica.node_state != "DOWN";
    if (replica.desired_state == "RUNNING" && serving && options.drain_grace > absl::ZeroDuration()) {
      // Routers drop it now; its engine finishes what is in flight, then stops (below, on a later call).
      db.Exec(tx, kDrainReplica, replica.id);
      RecordTransition(tx, db, instance_id, replica.id, replica.configuration, replica.state, "DRAINING",
                       options.operation_id, "");
      ++remaining;
      continue;
    }
    if (replica.desired_state == "DRAINING" && serving && replica.draining_for < options.drain_grace) {
      ++remaining;
      continue;
    }
    if (replica.desired_state != "STOPPED") {
      db.Exec(tx, kStopReplica, replica.id);
      db.Exec(tx, kBumpNode, replica.node_id);
      if (replica.desired_state == "RUNNING") {
        RecordTransition(tx, db, instance_id, replica.id, replica.configuration, replica.state, "STOPPING",
                         options.operation_id, "");
      }
      replica.desired_state = "STOPPED";
      replica.seconds_since_update = 0;
    }
    bool gone = replica.state == "PENDING" || replica.state == "STOPPED" || replica.state == "FAILED" ||
                replica.node_state == "DOWN" ||
                replica.seconds_since_update >= absl::ToInt64Seconds(options.stop_timeout);
    if (!gone) {
      ++remaining;
      continue;
    }
    RecordTransition(tx, db, instance_id, replica.id, replica.configuration, replica.state, "DELETED",
                     options.operation_id, replica.node_state == "DOWN" ? "node down" : "");
    db.Exec(tx, kDeleteReplica, replica.id);
    db.Exec(tx, kBumpNode, replica.node_id);
  }
  return remaining;
}
}  // namespace

int RetireReplicas(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                   const std::set<std::string>& replica_ids, const RetireOptions& options) {
  if (replica_ids.empty()) return 0;
  return RetireMatching(tx, db, instance_id, &replica_ids, options);
}

int ReleaseReplicas(pqxx::work& tx, DbSession& db, const std::string& instance_id, const std::string& operation_id,
                    absl::Duration stop_timeout) {
  return RetireMatching(tx, db, instance_id, nullptr,
                        RetireOptions{.operation_id = operation_id, .stop_timeout = stop_timeout});
}

std::vector<std::string> DropLostReplicas(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                                          const std::string& operation_id) {
  std::vector<std::string> lost;
  for (const ReplicaRow& replica : ReplicasOfInstance(tx, db, instance_id)) {
    if (replica.desired_state != "RUNNING") continue;
    bool node_down = replica.node_state == "DOWN";
    if (!node_down && replica.state != "FAILED") continue;
    std::string why = node_down ? "node down" : absl::StrCat("engine failed: ", replica.status_message);
    lost.push_back(absl::StrCat("replica ", replica.ordinal, " on node ", replica.node_id, ": ", why));
    RecordTransition(tx, db, instance_id, replica.id, replica.configuration, replica.state, "DELETED", operation_id,
                     why);
    db.Exec(tx, kDeleteReplica, replica.id);
    db.Exec(tx, kBumpNode, replica.node_id);
  }
  return lost;
}

std::vector<AssignmentRow> AssignmentsOfNode(pqxx::work& tx, DbSession& db, const std::string& node_id,
                                             int64_t* version) {
  pqxx::result v = db.Exec(tx, kNodeVersion, node_id);
  *version = v.empty() ? 0 : v[0][0].as<int64_t>();
  std::vector<AssignmentRow> out;
  for (const auto& r : db.Exec(tx, kAssignments, node_id)) {
    AssignmentRow row;
    row.replica_id = r[0].as<std::string>();
    row.instance_id = r[1].as<std::string>();
    row.folder_id = r[2].as<std::string>();
    row.model_id = r[3].as<std::string>();
    row.configuration = r[4].as<std::string>();
    row.desired_state = r[5].as<std::string>();
    row.gpu_indices = ParseIndices(r[6].as<std::string>());
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> AssignmentVersions(pqxx::transaction_base& tx, DbSession& db,
                                                                const std::vector<std::string>& node_ids) {
  std::set<std::string> wanted(node_ids.begin(), node_ids.end());
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& r : db.Exec(tx, kNodeVersions)) {
    std::string id = r[0].as<std::string>();
    if (wanted.contains(id)) out.emplace_back(std::move(id), r[1].as<int64_t>());
  }
  return out;
}

namespace {

using Statuses = google::protobuf::RepeatedPtrField<dedicated::v1::ReplicaStatus>;

// The reported replica ids in id order (the statements' $2), and each one's status.
std::map<std::string, const dedicated::v1::ReplicaStatus*> StatusesById(const Statuses& statuses) {
  std::map<std::string, const dedicated::v1::ReplicaStatus*> by_id;
  for (const auto& status : statuses) by_id[status.replica_id()] = &status;
  return by_id;
}

std::string JoinIds(const std::map<std::string, const dedicated::v1::ReplicaStatus*>& by_id) {
  std::string out;
  for (const auto& [id, status] : by_id) absl::StrAppend(&out, out.empty() ? "" : ",", id);
  return out;
}

// Rows of (replica id, instance id, desired state, state, endpoint, message) from column `at` on; a NULL
// replica id (the heartbeat's outer join when nothing matched) is skipped.
void AddNews(const pqxx::result& rows, int at, const std::map<std::string, const dedicated::v1::ReplicaStatus*>& by_id,
             ReportNews* out) {
  for (const auto& r : rows) {
    if (r[at].is_null()) continue;
    const dedicated::v1::ReplicaStatus& status = *by_id.at(r[at].as<std::string>());
    if (status.state() == dedicated::v1::ReplicaStatus::STATE_UNSPECIFIED) continue;
    std::string state = dedicated::v1::ReplicaStatus::State_Name(status.state());
    bool stopped_as_asked = r[at + 2].as<std::string>() == "STOPPED" && (state == "STOPPED" || state == "FAILED");
    if (stopped_as_asked || state != r[at + 3].as<std::string>() || status.endpoint() != r[at + 4].as<std::string>() ||
        status.message() != r[at + 5].as<std::string>()) {
      out->replicas.insert(r[at].as<std::string>());
      out->instances.insert(r[at + 1].as<std::string>());
    }
  }
}

}  // namespace

ReportNews FindNews(pqxx::transaction_base& tx, DbSession& db, const std::string& node_id, const Statuses& statuses) {
  ReportNews out;
  if (statuses.empty()) return out;
  auto by_id = StatusesById(statuses);
  AddNews(db.Exec(tx, kReportedReplicas, node_id, JoinIds(by_id)), 0, by_id, &out);
  return out;
}

absl::StatusOr<HeartbeatNews> TouchHeartbeat(pqxx::transaction_base& tx, DbSession& db, const std::string& node_id,
                                             const Statuses& statuses) {
  auto by_id = StatusesById(statuses);
  const std::string ids = JoinIds(by_id);
  pqxx::result r = db.Exec(tx, kHeartbeat, node_id, ids);
  if (r.empty()) r = db.Exec(tx, kHeartbeatBack, node_id, ids);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("node ", node_id, " not found; register again"));
  HeartbeatNews out;
  out.came_back = r[0][0].as<std::string>() == "DOWN";
  AddNews(r, 1, by_id, &out.news);
  return out;
}

std::map<std::string, std::string> LockInstances(pqxx::work& tx, DbSession& db,
                                                 const std::set<std::string>& instance_ids) {
  std::map<std::string, std::string> status_by_id;
  if (instance_ids.empty()) return status_by_id;
  for (const auto& r : db.Exec(tx, kLockInstances, absl::StrJoin(instance_ids, ","))) {
    status_by_id[r[0].as<std::string>()] = r[1].as<std::string>();
  }
  return status_by_id;
}

std::vector<std::string> SilentNodes(pqxx::work& tx, DbSession& db, absl::Duration timeout) {
  std::vector<std::string> out;
  for (const auto& r : db.Exec(tx, kSilentNodes, absl::ToInt64Milliseconds(timeout)))
    out.push_back(r[0].as<std::string>());
  return out;
}

std::vector<std::string> MarkSilentNodesDown(pqxx::work& tx, DbSession& db, absl::Duration timeout) {
  std::vector<std::string> out;
  for (const auto& r : db.Exec(tx, kMarkDown, absl::ToInt64Milliseconds(timeout)))
    out.push_back(r[0].as<std::string>());
  return out;
}

std::vector<std::string> InstancesOnNodes(pqxx::work& tx, DbSession& db, const std::vector<std::string>& node_ids) {
  std::vector<std::string> out;
  for (const auto& r : db.Exec(tx, kInstancesOnNodes, absl::StrJoin(node_ids, ","))) {
    out.push_back(r[0].as<std::string>());
  }
  return out;
}

}  // namespace dedicated::controlplane
