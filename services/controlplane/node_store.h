#pragma once
// SQL for nodes, their GPUs and the replicas placed on them.

#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dedicated/v1/node_service.pb.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

// Upserts the node by name (a restarted agent gets its id back) and makes sure it has one gpus row per
// GPU. Returns the node id.
absl::StatusOr<std::string> RegisterNode(pqxx::work& tx, DbSession& db, const dedicated::v1::RegisterNodeRequest& req,
                                         const std::string& new_id);

struct ReplicaRow {
  std::string id;
  std::string instance_id;
  int ordinal = 0;
  std::string node_id;
  std::string node_state;
  std::string desired_state;
  std::string state;
  std::string endpoint;
  std::string status_message;
  // Seconds since desired_state became STOPPED (or the last update).
  int64_t seconds_since_update = 0;
  // The configuration the replica was placed for (it differs from the instance's during a rolling update).
  std::string configuration;
  // How long it has been DRAINING (zero unless desired_state is DRAINING).
  absl::Duration draining_for = absl::ZeroDuration();
};

std::vector<ReplicaRow> ReplicasOfInstance(pqxx::work& tx, DbSession& db, const std::string& instance_id);

// Records what an agent observed. Returns the instance id of the replica, or nullopt when the replica is
// unknown on that node (already deleted: the next snapshot tells the agent to forget it).
std::optional<std::string> ApplyReplicaStatus(pqxx::work& tx, DbSession& db, const std::string& node_id,
                                              const dedicated::v1::ReplicaStatus& status);

// How many GPUs are free on each READY, undrained node of a type (nodes.free_gpus, kept by a trigger): a
// plain read of one row per node, no locks. Placement is optimistic: InsertReplica takes GPUs with
// `UPDATE ... WHERE replica_id IS NULL ... SKIP LOCKED` and a row count check, so a placer that lost a
// race to a concurrent one gets ABORTED, its transaction is retried, and it decides again on a fresh
// view. Locking every free GPU instead (FOR UPDATE) serialised all placements and locked thousands of
// rows per decision on a large fleet; reading one row per free GPU cost 30-40 ms at 1000 nodes.
struct FreeGpus {
  std::string node_id;
  std::string node_name;
  int free = 0;
};
std::vector<FreeGpus> ReadFreeGpus(pqxx::work& tx, DbSession& db, const std::string& gpu_type);
// The first `limit` nodes of a type with at least `min_free` free GPUs, fewest free first (best fit, then
// name), leaving out `excluded` and nodes another transaction holds, locked (FOR UPDATE SKIP LOCKED,
// never waits): what placement usually needs, from an index, without reading the whole fleet. Fewer
// rows than `limit` do not mean no capacity (held nodes are skipped): only ReadFreeGpus can say that.
std::vector<FreeGpus> LockBestFitNodes(pqxx::work& tx, DbSession& db, const std::string& gpu_type, int min_free,
                                       int limit, const std::set<std::string>& excluded);

// Inserts a replica on `node_id` holding `gpu_count` of its free GPUs (the lowest indices). ABORTED if
// fewer are free now (taken concurrently).
absl::Status InsertReplica(pqxx::work& tx, DbSession& db, const std::string& replica_id, const std::string& instance_id,
                           const std::string& configuration, int ordinal, const std::string& node_id, int gpu_count);

// Asks the agents to stop every replica of the instance and deletes the replicas that are already stopped,
// failed, never started, on a DOWN node, or stuck stopping longer than `stop_timeout` (their GPUs are freed
// with them). Returns how many replicas remain.
int ReleaseReplicas(pqxx::work& tx, DbSession& db, const std::string& instance_id, const std::string& operation_id,
                    absl::Duration stop_timeout);

struct RetireOptions {
  std::string operation_id;
  // A READY replica first DRAINS this long (routers stop sending it requests, its engine finishes the ones
  // in flight) before it is asked to stop. Zero: stop at once.
  absl::Duration drain_grace = absl::ZeroDuration();
  absl::Duration stop_timeout = absl::Minutes(2);
};
// Takes exactly the given replicas of an instance out of service (none when `replica_ids` is empty; use
// ReleaseReplicas for all of them): drain, stop, delete once stopped, as ReleaseReplicas does. Call it
// again until it returns 0 (replicas remaining).
int RetireReplicas(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                   const std::set<std::string>& replica_ids, const RetireOptions& options);

// The desired state of one node's replicas.
struct AssignmentRow {
  std::string replica_id;
  std::string instance_id;
  std::string folder_id;
  std::string model_id;
  std::string configuration;
  std::string desired_state;
  std::vector<int> gpu_indices;
};
// Deletes the replicas of an instance that are lost: on a DOWN node, or FAILED. Their GPUs are free again
// (a DOWN node's GPUs are not placeable until it is READY, and its agent then learns they are gone).
// Returns the lost replicas as "replica <ordinal> on node <id>: <why>" for status messages.
std::vector<std::string> DropLostReplicas(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                                          const std::string& operation_id);

std::vector<AssignmentRow> AssignmentsOfNode(pqxx::work& tx, DbSession& db, const std::string& node_id,
                                             int64_t* version);

// Versions of the given nodes' assignments.
std::vector<std::pair<std::string, int64_t>> AssignmentVersions(pqxx::transaction_base& tx, DbSession& db,
                                                                const std::vector<std::string>& node_ids);

// Lock order: an instance, then its live operation, then its replicas, then the nodes they touch
// (assignment versions). Operation steps follow it (LockClaimedOperation); whatever else changes replicas
// or nodes and then an instance (agent reports, the node monitor) takes the instance locks first, in id
// order (LockInstances), or the two deadlock.

// The replicas whose state this report changes, and their instances (a plain read: ApplyReplicaStatus
// decides again under lock).
struct ReportNews {
  std::set<std::string> replicas;
  std::set<std::string> instances;
};
ReportNews FindNews(pqxx::transaction_base& tx, DbSession& db, const std::string& node_id,
                    const google::protobuf::RepeatedPtrField<dedicated::v1::ReplicaStatus>& statuses);
// A node's heartbeat and the news in the statuses it carries, in one statement (two for a DOWN node; no transaction
// needed; run it under DbSession::Autocommit). came_back: the node was DOWN and is READY again. NOT_FOUND when the node
// is unknown (the agent should register again).
struct HeartbeatNews {
  bool came_back = false;
  ReportNews news;
};
absl::StatusOr<HeartbeatNews> TouchHeartbeat(
    pqxx::transaction_base& tx, DbSession& db, const std::string& node_id,
    const google::protobuf::RepeatedPtrField<dedicated::v1::ReplicaStatus>& statuses);
// SELECT ... FOR UPDATE of the instances, in id order. Returns each one's status (as locked).
std::map<std::string, std::string> LockInstances(pqxx::work& tx, DbSession& db,
                                                 const std::set<std::string>& instance_ids);
// READY/DRAINING nodes without a heartbeat for `timeout` (a plain read).
std::vector<std::string> SilentNodes(pqxx::work& tx, DbSession& db, absl::Duration timeout);

// Marks READY/DRAINING nodes without a heartbeat for `timeout` DOWN. Returns their ids.
std::vector<std::string> MarkSilentNodesDown(pqxx::work& tx, DbSession& db, absl::Duration timeout);
// Instances that have a replica meant to run on one of the given nodes.
std::vector<std::string> InstancesOnNodes(pqxx::work& tx, DbSession& db, const std::vector<std::string>& node_ids);

}  // namespace dedicated::controlplane
