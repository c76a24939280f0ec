#include "services/controlplane/operation_steps.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dedicated/v1/instance_service.pb.h"
#include "google/protobuf/empty.pb.h"
#include "services/common/ids.h"
#include "services/common/status_macros.h"
#include "services/controlplane/node_store.h"
#include "services/controlplane/placement.h"
#include "services/controlplane/row_codec.h"

namespace dedicated::controlplane {
namespace {

constexpr absl::Duration kReleasePoll = absl::Milliseconds(500);

StepOutcome Again(absl::Duration after, bool assignments_changed = false) {
  StepOutcome o;
  o.run_again_after = after;
  o.assignments_changed = assignments_changed;
  return o;
}

StepOutcome Finished(std::string result, bool assignments_changed) {
  StepOutcome o;
  o.finished = true;
  o.result = std::move(result);
  o.assignments_changed = assignments_changed;
  return o;
}

}  // namespace

absl::StatusOr<StepOutcome> OperationSteps::Step(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                                 const std::string& owner, std::optional<InstanceRow> locked) {
  absl::StatusOr<InstanceRow> instance =
      locked.has_value() ? std::move(*locked) : LoadInstance(tx, db, op.instance_id, /*for_update=*/true);
  if (!instance.ok()) {
    // Only a bug or manual surgery gets here: the instance vanished under a live operation.
    FinishOperationWithError(tx, db, op.proto.id(), owner,
                             MakeRpcStatus(absl::StatusCode::kAborted, std::string(instance.status().message())));
    return Finished("ABORTED", false);
  }
  if (op.kind == kCreateInstance || op.kind == kStartInstance) {
    if (op.cancel_requested) return CancelProvision(tx, db, op, *instance, owner);
    return Provision(tx, db, op, *instance, owner);
  }
  if (op.kind == kStopInstance || op.kind == kDeleteInstance) return Release(tx, db, op, *instance, owner);
  if (op.kind == kRepairInstance) return Repair(tx, db, op, *instance, owner);
  if (op.kind == kUpdateInstance) return Roll(tx, db, op, *instance, owner);
  FinishOperationWithError(tx, db, op.proto.id(), owner,
                           MakeRpcStatus(absl::StatusCode::kInternal, "no worker for operation kind " + op.kind));
  return Finished("INTERNAL", false);
}

StepOutcome OperationSteps::Fail(pqxx::work& tx, DbSession& db, const OperationRow& op, InstanceRow& instance,
                                 const std::string& owner, absl::StatusCode code, const std::string& message) {
  (void)SetInstanceStatus(tx, db, instance, "ERROR", message, op.proto.id());
  ReleaseReplicas(tx, db, instance.proto.id(), op.proto.id(), config_->stop_timeout);
  FinishOperationWithError(tx, db, op.proto.id(), owner, MakeRpcStatus(code, message));
  return Finished(absl::StatusCodeToString(code), true);
}

absl::StatusOr<StepOutcome> OperationSteps::Provision(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                                      InstanceRow& instance, const std::string& owner) {
  const std::string& id = instance.proto.id();
  if (op.deadline_passed) {
    return Fail(tx, db, op, instance, owner, absl::StatusCode::kDeadlineExceeded,
                absl::StrCat("engines of instance ", id, " did not become ready within ",
                             absl::FormatDuration(config_->provision_timeout)));
  }
  std::vector<ReplicaRow> replicas = ReplicasOfInstance(tx, db, id);
  int running = 0, ready = 0;
  for (const ReplicaRow& r : replicas) {
    if (r.desired_state != "RUNNING") continue;
    ++running;
    if (r.state == "FAILED") {
      return Fail(tx, db, op, instance, owner, absl::StatusCode::kInternal,
                  absl::StrCat("replica ", r.ordinal, " on node ", r.node_id, " failed: ", r.status_message));
    }
    if (r.node_state == "DOWN") {
      return Fail(tx, db, op, instance, owner, absl::StatusCode::kUnavailable,
                  absl::StrCat("node ", r.node_id, " of replica ", r.ordinal, " went down"));
    }
    if (r.state == "READY") ++ready;
  }
  if (running < instance.proto.replica_count()) {
    absl::Status placed = PlaceMissingReplicas(tx, db, instance, &replicas);
    if (placed.code() == absl::StatusCode::kResourceExhausted) {
      return Fail(tx, db, op, instance, owner, placed.code(), std::string(placed.message()));
    }
    DI_RETURN_IF_ERROR(placed);
    if (instance.status != "STARTING") {
      DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, "STARTING", "loading the model", op.proto.id()));
    }
    return Again(absl::Seconds(1), /*assignments_changed=*/true);
  }
  if (ready == instance.proto.replica_count()) {
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, "ACTIVE", "", op.proto.id()));
    FinishOperationWithResponse(tx, db, op.proto.id(), owner, PackAny(instance.proto));
    return Finished("ok", false);
  }
  std::string progress =
      absl::StrCat("loading the model: ", ready, " of ", instance.proto.replica_count(), " replicas ready");
  if (instance.proto.status_message() != progress) {
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, instance.status, progress, op.proto.id()));
  }
  return Again(absl::Seconds(1));
}

absl::Status OperationSteps::PlaceMissingReplicas(pqxx::work& tx, DbSession& db, const InstanceRow& instance,
                                                  const std::vector<ReplicaRow>* replicas) {
  return PlaceReplicasOf(tx, db, instance, instance.proto.configuration(), instance.proto.replica_count(), replicas);
}

absl::Status OperationSteps::PlaceReplicasOf(pqxx::work& tx, DbSession& db, const InstanceRow& instance,
                                             const std::string& configuration, int64_t count,
                                             const std::vector<ReplicaRow>* replicas) {
  const auto* config = catalog_->FindConfiguration(instance.proto.model_id(), configuration);
  if (config == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("configuration ", configuration, " of model ",
                                                      instance.proto.model_id(), " is not in the catalog"));
  }
  const int need = static_cast<int>(config->gpu_count());
  std::set<int> taken_ordinals;
  std::set<std::string> used_nodes;
  int64_t have = 0;
  std::vector<ReplicaRow> read;
  if (replicas == nullptr) {
    read = ReplicasOfInstance(tx, db, instance.proto.id());
    replicas = &read;
  }
  for (const ReplicaRow& r : *replicas) {
    if (r.desired_state != "RUNNING") continue;
    taken_ordinals.insert(r.ordinal);
    used_nodes.insert(r.node_id);
    if (r.configuration == configuration) ++have;
  }
  if (have >= count) return absl::OkStatus();
  // Ordinals name replica slots; during a rolling update old and new replicas hold different ones.
  std::vector<int> missing;
  for (int ordinal = 0; static_cast<int64_t>(missing.size()) < count - have; ++ordinal) {
    if (!taken_ordinals.contains(ordinal)) missing.push_back(ordinal);
  }
  const PlacementRequest request{.instance_id = instance.proto.id(),
                                 .gpu_type = config->gpu_type(),
                                 .gpus_per_replica = need,
                                 .replicas = static_cast<int>(missing.size()),
                                 .nodes_in_use = used_nodes};
  auto to_capacity = [&](std::vector<FreeGpus> free) {
    std::vector<NodeCapacity> nodes;
    for (FreeGpus& f : free) nodes.push_back({f.node_id, f.node_name, config->gpu_type(), f.free});
    return nodes;
  };
  // Usually the best-fit head of the fleet decides: one node per missing replica, not in use by the
  // instance (spread), locked with SKIP LOCKED. Concurrent placers thus hold different nodes (the next
  // best when the best is held) instead of queueing on one node's row, and the takes below wait for no
  // one. When the head has fewer nodes than replicas (spreading must give way, nothing fits, or the
  // fitting nodes are held by other placers), decide on the whole fleet's unlocked view: that is what
  // says RESOURCE_EXHAUSTED (with its summary of what is free), and its takes wait for a held node as
  // before; InsertReplica's take still fails with ABORTED (the step's transaction is retried on a fresh
  // view) if a GPU it chose went meanwhile.
  std::vector<NodeCapacity> head =
      to_capacity(LockBestFitNodes(tx, db, config->gpu_type(), need, static_cast<int>(missing.size()), used_nodes));
  std::vector<ReplicaPlacement> placements;
  if (head.size() == missing.size()) {
    DI_ASSIGN_OR_RETURN(placements, PlaceReplicas(std::move(head), request));
  } else {
    DI_ASSIGN_OR_RETURN(placements, PlaceReplicas(to_capacity(ReadFreeGpus(tx, db, config->gpu_type())), request));
  }
  // Node order, so that placers taking GPUs on the same nodes lock them in the same order.
  std::vector<size_t> order(missing.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return placements[a].node_id < placements[b].node_id; });
  for (size_t i : order) {
    DI_RETURN_IF_ERROR(InsertReplica(tx, db, NewId("drp"), instance.proto.id(), configuration, missing[i],
                                     placements[i].node_id, placements[i].gpus));
  }
  return absl::OkStatus();
}

absl::StatusOr<StepOutcome> OperationSteps::CancelProvision(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                                            InstanceRow& instance, const std::string& owner) {
  bool creating = op.kind == kCreateInstance;
  const char* draining = creating ? "DELETING" : "STOPPING";
  if (instance.status != draining) {
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, draining,
                                         creating ? "creation cancelled" : "start cancelled", op.proto.id()));
  }
  int remaining = ReleaseReplicas(tx, db, instance.proto.id(), op.proto.id(), config_->stop_timeout);
  if (remaining > 0) {
    return Again(kReleasePoll, true);
  }
  // A cancelled Create leaves nothing behind; a cancelled Start leaves the instance as it was: stopped.
  DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, creating ? kDeleted : "STOPPED", "", op.proto.id()));
  FinishOperationWithError(tx, db, op.proto.id(), owner,
                           MakeRpcStatus(absl::StatusCode::kCancelled, "operation cancelled by request"));
  return Finished("CANCELLED", true);
}

absl::StatusOr<StepOutcome> OperationSteps::Release(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                                    InstanceRow& instance, const std::string& owner) {
  int remaining = ReleaseReplicas(tx, db, instance.proto.id(), op.proto.id(), config_->stop_timeout);
  if (remaining > 0) {
    std::string progress = absl::StrCat("stopping engines: ", remaining, " replica(s) left");
    if (instance.proto.status_message() != progress) {
      DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, instance.status, progress, op.proto.id()));
    }
    return Again(kReleasePoll, true);
  }
  if (op.kind == kStopInstance) {
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, "STOPPED", "", op.proto.id()));
    FinishOperationWithResponse(tx, db, op.proto.id(), owner, PackAny(instance.proto));
  } else {
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, kDeleted, "", op.proto.id()));
    FinishOperationWithResponse(tx, db, op.proto.id(), owner, PackAny(google::protobuf::Empty()));
  }
  return Finished("ok", true);
}

namespace {

struct Serving {
  int running = 0;
  int ready = 0;
};

Serving CountServing(pqxx::work& tx, DbSession& db, const std::string& instance_id) {
  Serving out;
  for (const ReplicaRow& r : ReplicasOfInstance(tx, db, instance_id)) {
    if (r.desired_state != "RUNNING") continue;
    ++out.running;
    if (r.state == "READY" && r.node_state != "DOWN") ++out.ready;
  }
  return out;
}

// ACTIVE while something serves (degraded), STARTING while nothing does.
absl::Status ShowRepairProgress(pqxx::work& tx, DbSession& db, InstanceRow& instance, int ready,
                                const std::string& what, const std::string& operation_id) {
  std::string status = ready > 0 ? "ACTIVE" : "STARTING";
  std::string message =
      ready > 0 ? absl::StrCat("degraded: ", ready, " of ", instance.proto.replica_count(), " replicas serving; ", what)
                : what;
  if (instance.status == status && instance.proto.status_message() == message) return absl::OkStatus();
  return SetInstanceStatus(tx, db, instance, status, message, operation_id);
}

}  // namespace

absl::StatusOr<StepOutcome> OperationSteps::Repair(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                                   InstanceRow& instance, const std::string& owner) {
  const std::string& id = instance.proto.id();
  std::vector<std::string> lost = DropLostReplicas(tx, db, id, op.proto.id());
  Serving now = CountServing(tx, db, id);
  if (op.deadline_passed) {
    return Fail(tx, db, op, instance, owner, absl::StatusCode::kDeadlineExceeded,
                absl::StrCat("could not replace the lost replicas of instance ", id, " within ",
                             absl::FormatDuration(config_->provision_timeout)));
  }
  bool placed_any = false;
  if (now.running < instance.proto.replica_count()) {
    absl::Status placed = PlaceMissingReplicas(tx, db, instance);
    if (placed.code() == absl::StatusCode::kResourceExhausted) {
      // Unlike a Create, a repair waits for capacity (a node may come back) until its deadline.
      DI_RETURN_IF_ERROR(ShowRepairProgress(
          tx, db, instance, now.ready,
          absl::StrCat("waiting for capacity to replace lost replicas: ", placed.message()), op.proto.id()));
      return Again(absl::Seconds(5), !lost.empty());
    }
    DI_RETURN_IF_ERROR(placed);
    placed_any = true;
    now = CountServing(tx, db, id);
  }
  if (now.ready == instance.proto.replica_count()) {
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, "ACTIVE", "", op.proto.id()));
    FinishOperationWithResponse(tx, db, op.proto.id(), owner, PackAny(instance.proto));
    return Finished("ok", placed_any || !lost.empty());
  }
  DI_RETURN_IF_ERROR(ShowRepairProgress(
      tx, db, instance, now.ready,
      absl::StrCat("replacing lost replicas: ", now.ready, " of ", instance.proto.replica_count(), " ready"),
      op.proto.id()));
  return Again(absl::Seconds(1), placed_any || !lost.empty());
}

namespace {

// The replicas a rolling update keeps: up to `count` RUNNING replicas of `configuration`, serving ones
// first, then by ordinal. Every other replica of the instance is retired.
std::set<std::string> ReplicasToKeep(const std::vector<ReplicaRow>& replicas, const std::string& configuration,
                                     int64_t count, int* ready) {
  std::vector<const ReplicaRow*> candidates;
  for (const ReplicaRow& r : replicas) {
    if (r.desired_state == "RUNNING" && r.configuration == configuration) candidates.push_back(&r);
  }
  auto serving = [](const ReplicaRow* r) { return r->state == "READY" && r->node_state != "DOWN"; };
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](const ReplicaRow* a, const ReplicaRow* b) { return serving(a) && !serving(b); });
  std::set<std::string> keep;
  *ready = 0;
  for (const ReplicaRow* r : candidates) {
    if (static_cast<int64_t>(keep.size()) == count) break;
    keep.insert(r->id);
    if (serving(r)) ++*ready;
  }
  return keep;
}

std::set<std::string> AllBut(const std::vector<ReplicaRow>& replicas, const std::set<std::string>& keep) {
  std::set<std::string> out;
  for (const ReplicaRow& r : replicas) {
    if (!keep.contains(r.id)) out.insert(r.id);
  }
  return out;
}

}  // namespace

absl::StatusOr<StepOutcome> OperationSteps::Roll(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                                 InstanceRow& instance, const std::string& owner) {
  v1::UpdateInstanceMetadata target;
  if (!op.proto.metadata().UnpackTo(&target) || target.configuration().empty()) {
    FinishOperationWithError(tx, db, op.proto.id(), owner,
                             MakeRpcStatus(absl::StatusCode::kInternal, "update operation without a target"));
    return Finished("INTERNAL", false);
  }
  const std::string& id = instance.proto.id();
  const std::string goal = absl::StrCat("configuration ", target.configuration(), " x ", target.replica_count());
  if (op.cancel_requested) {
    return RollBack(tx, db, op, instance, owner, absl::StatusCode::kCancelled,
                    "operation cancelled by request; the instance keeps its previous configuration");
  }
  if (op.deadline_passed) {
    return RollBack(tx, db, op, instance, owner, absl::StatusCode::kDeadlineExceeded,
                    absl::StrCat("new replicas of instance ", id, " were not ready within ",
                                 absl::FormatDuration(config_->provision_timeout), "; rolled back"));
  }
  std::vector<ReplicaRow> replicas = ReplicasOfInstance(tx, db, id);
  for (const ReplicaRow& r : replicas) {
    if (r.desired_state == "RUNNING" && r.configuration == target.configuration() && r.state == "FAILED") {
      return RollBack(tx, db, op, instance, owner, absl::StatusCode::kInternal,
                      absl::StrCat("new replica ", r.ordinal, " on node ", r.node_id, " failed: ", r.status_message,
                                   "; rolled back"));
    }
  }
  // Replicas on dead nodes are gone either way: new ones get placed again, old ones were leaving.
  std::vector<std::string> lost = DropLostReplicas(tx, db, id, op.proto.id());
  if (!lost.empty()) replicas = ReplicasOfInstance(tx, db, id);

  int ready = 0;
  std::set<std::string> keep = ReplicasToKeep(replicas, target.configuration(), target.replica_count(), &ready);
  if (static_cast<int64_t>(keep.size()) < target.replica_count()) {
    absl::Status placed = PlaceReplicasOf(tx, db, instance, target.configuration(), target.replica_count());
    if (placed.code() == absl::StatusCode::kResourceExhausted) {
      return RollBack(tx, db, op, instance, owner, placed.code(), absl::StrCat(placed.message(), "; rolled back"));
    }
    DI_RETURN_IF_ERROR(placed);
    DI_RETURN_IF_ERROR(
        ShowRollProgress(tx, db, instance, absl::StrCat("updating to ", goal, ": placed new replicas"), op.proto.id()));
    return Again(absl::Seconds(1), /*assignments_changed=*/true);
  }
  if (ready < target.replica_count()) {
    DI_RETURN_IF_ERROR(ShowRollProgress(
        tx, db, instance,
        absl::StrCat("updating to ", goal, ": ", ready, " of ", target.replica_count(), " new replicas ready"),
        op.proto.id()));
    return Again(absl::Seconds(1), !lost.empty());
  }
  // Every new replica serves: the others drain, then stop.
  std::set<std::string> retire = AllBut(replicas, keep);
  int remaining = RetireReplicas(tx, db, id, retire,
                                 RetireOptions{.operation_id = op.proto.id(),
                                               .drain_grace = config_->drain_grace,
                                               .stop_timeout = config_->stop_timeout});
  if (remaining > 0) {
    DI_RETURN_IF_ERROR(ShowRollProgress(tx, db, instance,
                                        absl::StrCat("updating to ", goal, ": retiring ", remaining, " old replica(s)"),
                                        op.proto.id()));
    return Again(kReleasePoll, true);
  }
  instance.proto.set_configuration(target.configuration());
  instance.proto.set_replica_count(target.replica_count());
  DI_RETURN_IF_ERROR(UpdateInstanceSpec(tx, db, instance.proto));
  DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, "ACTIVE", "", op.proto.id()));
  FinishOperationWithResponse(tx, db, op.proto.id(), owner, PackAny(instance.proto));
  return Finished("ok", !retire.empty() || !lost.empty());
}

absl::StatusOr<StepOutcome> OperationSteps::RollBack(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                                     InstanceRow& instance, const std::string& owner,
                                                     absl::StatusCode code, const std::string& message) {
  // The instance still carries its previous configuration and replica_count: keep what matches them,
  // stop everything else at once (a failure path; engines get SIGTERM and finish what is in flight).
  const std::string& id = instance.proto.id();
  std::vector<ReplicaRow> replicas = ReplicasOfInstance(tx, db, id);
  int ready = 0;
  std::set<std::string> keep =
      ReplicasToKeep(replicas, instance.proto.configuration(), instance.proto.replica_count(), &ready);
  std::set<std::string> retire = AllBut(replicas, keep);
  RetireReplicas(tx, db, id, retire,
                 RetireOptions{.operation_id = op.proto.id(), .stop_timeout = config_->stop_timeout});
  DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, "ACTIVE", "", op.proto.id()));
  FinishOperationWithError(tx, db, op.proto.id(), owner, MakeRpcStatus(code, message));
  // Old replicas lost during the roll are replaced by a repair, as for any ACTIVE instance.
  DI_RETURN_IF_ERROR(ReconcileActiveInstance(tx, db, id, config_->provision_timeout));
  return Finished(absl::StatusCodeToString(code), true);
}

absl::Status OperationSteps::ShowRollProgress(pqxx::work& tx, DbSession& db, InstanceRow& instance,
                                              const std::string& message, const std::string& operation_id) {
  if (instance.proto.status_message() == message) return absl::OkStatus();
  return SetInstanceStatus(tx, db, instance, "ACTIVE", message, operation_id);
}

absl::Status ReconcileActiveInstance(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                                     absl::Duration repair_timeout) {
  absl::StatusOr<InstanceRow> instance = LoadInstance(tx, db, instance_id, /*for_update=*/true);
  if (!instance.ok() || instance->status != "ACTIVE") return absl::OkStatus();
  // An operation already running on the instance (a repair, or a user's Stop/Delete) owns its replicas.
  if (LiveOperationOf(tx, db, instance_id).has_value()) return absl::OkStatus();
  int ready = 0;
  std::vector<std::string> problems;
  for (const ReplicaRow& r : ReplicasOfInstance(tx, db, instance_id)) {
    if (r.desired_state != "RUNNING") continue;
    if (r.node_state == "DOWN") {
      problems.push_back(absl::StrCat("replica ", r.ordinal, ": node ", r.node_id, " is down"));
    } else if (r.state == "FAILED") {
      problems.push_back(absl::StrCat("replica ", r.ordinal, " failed: ", r.status_message));
    } else if (r.state == "READY") {
      ++ready;
    }
  }
  if (problems.empty()) return absl::OkStatus();
  std::string op_id = NewId("dop");
  v1::UpdateInstanceMetadata metadata;  // carries instance_id, like every instance operation
  metadata.set_instance_id(instance_id);
  NewOperation op{.id = op_id,
                  .kind = kRepairInstance,
                  .description = absl::StrCat("Replace lost replicas of instance ", instance->proto.name()),
                  .instance_id = instance_id,
                  .resource_id = instance->proto.folder_id(),
                  .created_by = kSystemSubject,
                  .metadata = PackAny(metadata),
                  .response = std::nullopt,
                  .timeout = repair_timeout};
  DI_RETURN_IF_ERROR(InsertOperation(tx, db, op).status());
  return ShowRepairProgress(tx, db, *instance, ready, absl::StrCat("moving replicas: ", absl::StrJoin(problems, "; ")),
                            op_id);
}

}  // namespace dedicated::controlplane
