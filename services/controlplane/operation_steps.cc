#include "services/controlplane/operation_steps.h"

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
                                                 const std::string& owner) {
  absl::StatusOr<InstanceRow> instance = LoadInstance(tx, db, op.instance_id, /*for_update=*/true);
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
    absl::Status placed = PlaceMissingReplicas(tx, db, instance);
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
  std::string progress = absl::StrCat("loading the model: ", ready, " of ", instance.proto.replica_count(),
                                      " replicas ready");
  if (instance.proto.status_message() != progress) {
    DI_RETURN_IF_ERROR(SetInstanceStatus(tx, db, instance, instance.status, progress, op.proto.id()));
  }
  return Again(absl::Seconds(1));
}

absl::Status OperationSteps::PlaceMissingReplicas(pqxx::work& tx, DbSession& db, const InstanceRow& instance) {
  const auto* config = catalog_->FindConfiguration(instance.proto.model_id(), instance.proto.configuration());
  if (config == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("configuration ", instance.proto.configuration(), " of model ",
                                                      instance.proto.model_id(), " is not in the catalog"));
  }
  const int need = static_cast<int>(config->gpu_count());
  std::set<int> taken_ordinals;
  std::set<std::string> used_nodes;
  for (const ReplicaRow& r : ReplicasOfInstance(tx, db, instance.proto.id())) {
    if (r.desired_state != "RUNNING") continue;
    taken_ordinals.insert(r.ordinal);
    used_nodes.insert(r.node_id);
  }
  // Optimistic: decide on an unlocked view; InsertReplica's take of the chosen GPUs fails with ABORTED
  // (and the step's transaction is retried on a fresh view) if a concurrent placer took one first.
  std::vector<NodeCapacity> nodes;
  for (FreeGpus& f : ReadFreeGpus(tx, db, config->gpu_type())) {
    nodes.push_back({f.node_id, f.node_name, config->gpu_type(), std::move(f.gpu_indices)});
  }
  std::vector<int> missing;
  for (int ordinal = 0; ordinal < instance.proto.replica_count(); ++ordinal) {
    if (!taken_ordinals.contains(ordinal)) missing.push_back(ordinal);
  }
  if (missing.empty()) return absl::OkStatus();
  DI_ASSIGN_OR_RETURN(std::vector<ReplicaPlacement> placements,
                      PlaceReplicas(std::move(nodes), PlacementRequest{.instance_id = instance.proto.id(),
                                                                       .gpu_type = config->gpu_type(),
                                                                       .gpus_per_replica = need,
                                                                       .replicas = static_cast<int>(missing.size()),
                                                                       .nodes_in_use = used_nodes}));
  for (size_t i = 0; i < missing.size(); ++i) {
    DI_RETURN_IF_ERROR(InsertReplica(tx, db, NewId("drp"), instance.proto.id(), missing[i], placements[i].node_id,
                                     placements[i].gpus));
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
      DI_RETURN_IF_ERROR(ShowRepairProgress(tx, db, instance, now.ready,
                                            absl::StrCat("waiting for capacity to replace lost replicas: ",
                                                         placed.message()),
                                            op.proto.id()));
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
  return ShowRepairProgress(tx, db, *instance, ready,
                            absl::StrCat("moving replicas: ", absl::StrJoin(problems, "; ")), op_id);
}

}  // namespace dedicated::controlplane
