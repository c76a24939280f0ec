#include "services/controlplane/node_api.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/ids.h"
#include "services/common/status_macros.h"
#include "services/controlplane/billing_store.h"
#include "services/controlplane/instance_store.h"
#include "services/controlplane/node_store.h"
#include "services/controlplane/operation_steps.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/validation.h"

namespace dedicated::controlplane {
namespace {

absl::Status ValidateNodeName(const std::string& name) {
  if (name.empty() || name.size() > 253) return absl::InvalidArgumentError("name: 1 to 253 characters");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_';
    if (!ok) return absl::InvalidArgumentError("name: letters, digits, '-', '.', '_' only");
  }
  return absl::OkStatus();
}

google::protobuf::Duration ToProto(absl::Duration d) {
  return google::protobuf::util::TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(d));
}

}  // namespace

absl::StatusOr<v1::RegisterNodeResponse> NodeApi::Register(DbSession& db, const v1::RegisterNodeRequest& req) {
  DI_RETURN_IF_ERROR(ValidateNodeName(req.name()));
  if (req.gpu_type().empty()) return absl::InvalidArgumentError("gpu_type: is required");
  if (req.gpu_count() < 0 || req.gpu_count() > 1024) return absl::InvalidArgumentError("gpu_count: 0 to 1024");
  if (req.address().empty()) return absl::InvalidArgumentError("address: is required");
  if (req.engine_kind().empty()) return absl::InvalidArgumentError("engine_kind: is required");
  v1::RegisterNodeResponse out;
  DI_RETURN_IF_ERROR(db.InTransaction("register node", [&](pqxx::work& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(std::string id, RegisterNode(tx, s, req, NewId("dnd")));
    out.set_node_id(id);
    return absl::OkStatus();
  }));
  *out.mutable_heartbeat_interval() = ToProto(config_->heartbeat_interval);
  wakeups_->AssignmentsChanged();
  return out;
}

absl::Status NodeApi::ApplyStatuses(DbSession& db, const std::string& node_id,
                                    const google::protobuf::RepeatedPtrField<v1::ReplicaStatus>& statuses,
                                    bool heartbeat) {
  for (const v1::ReplicaStatus& status : statuses) {
    if (status.replica_id().empty()) return absl::InvalidArgumentError("status.replica_id: is required");
  }
  // Most heartbeats repeat what is known: the beat and the read of the news are one statement with no
  // transaction around it (a thousand nodes send hundreds a second), and it locks only the node's row.
  ReportNews news;
  bool came_back = false;
  DI_RETURN_IF_ERROR(db.Autocommit("heartbeat", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    if (!heartbeat) {
      news = FindNews(tx, s, node_id, statuses);
      return absl::OkStatus();
    }
    DI_ASSIGN_OR_RETURN(HeartbeatNews beat, TouchHeartbeat(tx, s, node_id, statuses));
    came_back = beat.came_back;
    news = std::move(beat.news);
    return absl::OkStatus();
  }));
  if (news.replicas.empty() && !came_back) return absl::OkStatus();

  std::set<std::string> instances;
  bool may_remove_replicas = false;
  DI_RETURN_IF_ERROR(db.InTransaction("replica status", [&](pqxx::work& tx, DbSession& s) -> absl::Status {
    // News locks its instances first (the lock order of node_store.h), then the replicas, and the node's
    // own row last. ApplyReplicaStatus decides again under the lock.
    instances = news.instances;
    std::vector<std::string> on_node;
    if (came_back) on_node = InstancesOnNodes(tx, s, {node_id});
    instances.insert(on_node.begin(), on_node.end());
    const std::map<std::string, std::string> status_by_id = LockInstances(tx, s, instances);
    may_remove_replicas = false;
    for (const v1::ReplicaStatus& status : statuses) {
      if (!news.replicas.contains(status.replica_id())) continue;
      (void)ApplyReplicaStatus(tx, s, node_id, status);
      // A STOPPED or FAILED engine may take its replica row (and the node's assignment) with it.
      may_remove_replicas = may_remove_replicas || status.state() == v1::ReplicaStatus::STOPPED ||
                            status.state() == v1::ReplicaStatus::FAILED;
    }
    // A node back from DOWN serves again from this heartbeat: its READY replicas bill from now, not from
    // whatever transition their instances see next.
    for (const std::string& instance_id : on_node) UpdateBillableIntervals(tx, s, instance_id, "", "");
    // Only an ACTIVE instance can have lost a replica that an operation does not own (most reports are
    // replicas of instances still being provisioned: no need to load those again).
    for (const auto& [instance_id, status] : status_by_id) {
      if (status != "ACTIVE") continue;
      DI_RETURN_IF_ERROR(ReconcileActiveInstance(tx, s, instance_id, config_->provision_timeout));
    }
    return absl::OkStatus();
  }));
  if (!instances.empty()) {
    // The operations of these instances look now rather than at their next poll. A separate transaction:
    // a step locks its operation before its instance, so waking it while holding the instance could deadlock.
    absl::Status woke = db.Autocommit("wake operations", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
      WakeInstanceOperations(tx, s, {instances.begin(), instances.end()});
      return absl::OkStatus();
    });
    (void)woke;  // a hint: the operation runs at its next poll anyway
    wakeups_->OperationsChanged();
  }
  // A READY report changes no node's assignments; only a removed replica does (the agent must forget it).
  if (may_remove_replicas) wakeups_->AssignmentsChanged();
  return absl::OkStatus();
}

absl::StatusOr<v1::HeartbeatResponse> NodeApi::Heartbeat(DbSession& db, const v1::HeartbeatRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("node_id", req.node_id()));
  DI_RETURN_IF_ERROR(ApplyStatuses(db, req.node_id(), req.replicas(), /*heartbeat=*/true));
  v1::HeartbeatResponse out;
  *out.mutable_heartbeat_interval() = ToProto(config_->heartbeat_interval);
  return out;
}

absl::StatusOr<v1::ReportReplicaStatusResponse> NodeApi::Report(DbSession& db,
                                                                const v1::ReportReplicaStatusRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("node_id", req.node_id()));
  google::protobuf::RepeatedPtrField<v1::ReplicaStatus> one;
  *one.Add() = req.status();
  DI_RETURN_IF_ERROR(ApplyStatuses(db, req.node_id(), one, /*heartbeat=*/false));
  return v1::ReportReplicaStatusResponse();
}

absl::StatusOr<v1::Assignments> NodeApi::Snapshot(DbSession& db, const std::string& node_id) {
  v1::Assignments out;
  std::vector<AssignmentRow> rows;
  int64_t version = 0;
  DI_RETURN_IF_ERROR(db.InTransaction("node assignments", [&](pqxx::work& tx, DbSession& s) -> absl::Status {
    rows = AssignmentsOfNode(tx, s, node_id, &version);
    return absl::OkStatus();
  }));
  if (version == 0) return absl::NotFoundError(absl::StrCat("node ", node_id, " not found; register again"));
  out.set_version(version);
  for (const AssignmentRow& row : rows) {
    v1::ReplicaAssignment* a = out.add_replicas();
    a->set_replica_id(row.replica_id);
    a->set_instance_id(row.instance_id);
    a->set_model_id(row.model_id);
    a->set_configuration(row.configuration);
    for (int g : row.gpu_indices) a->add_gpu_indices(g);
    // A DRAINING replica's engine keeps running (finishing requests in flight) until it is STOPPED.
    a->set_desired_state(row.desired_state == "STOPPED" ? v1::ReplicaAssignment::STOPPED
                                                        : v1::ReplicaAssignment::RUNNING);
    // The engine answers to the instance's model_uri and to its bare id (what the gateway accepts).
    std::string names = absl::StrCat(ModelUri(row.folder_id, row.instance_id), ",", row.instance_id);
    for (auto& cmd : catalog_->EngineCommands(row.model_id, row.configuration, names)) {
      *a->add_engine_commands() = std::move(cmd);
    }
  }
  return out;
}

}  // namespace dedicated::controlplane
