#pragma once
// What a worker does for one claimed operation, one step at a time. A step reads the current state,
// moves it forward inside one transaction and either finishes the operation or asks to be run again.
// Steps are idempotent: a step repeated after a crash finds its own earlier work (replicas are keyed by
// ordinal) and does not redo it.
//
// Create/Start:  place missing replicas -> STARTING -> every replica READY -> ACTIVE (done)
//                failed replica, node down, no capacity or deadline -> ERROR (done with error)
//                cancel requested -> release replicas -> Create: instance removed, Start: STOPPED
// Stop:          release replicas -> STOPPED (done)
// Delete:        release replicas -> DELETED (done, response Empty)
// Update (configuration/replica_count of an ACTIVE instance; the target is in the operation's metadata,
//         the instance keeps its previous values until the end, and stays ACTIVE throughout):
//                place replicas of the target -> all of them READY -> the others DRAIN (routers stop
//                sending them requests) for drain_grace, then stop -> instance takes the target (done)
//                no capacity, a new engine failing, the deadline or Cancel -> roll back: keep what matches
//                the previous values, stop the rest at once (done with error)

#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/catalog/catalog.h"
#include "services/controlplane/controlplane_config.h"
#include "services/controlplane/instance_store.h"
#include "services/controlplane/node_store.h"
#include "services/controlplane/operation_store.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

struct StepOutcome {
  bool finished = false;
  // When not finished: run again after this long (a replica report wakes it earlier).
  absl::Duration run_again_after = absl::Seconds(1);
  // The outcome of a finished operation, for metrics ("ok" or a status code name).
  std::string result = "ok";
  // Assignments of some node changed: node streams should look.
  bool assignments_changed = false;
};

class OperationSteps {
 public:
  OperationSteps(std::shared_ptr<const catalog::Catalog> catalog, const ControlplaneConfig* config)
      : catalog_(std::move(catalog)), config_(config) {}

  // Runs one step of `op`, which the caller has locked (LockClaimedOperation) as `owner`. `instance` is the
  // instance row LockClaimedOperation locked, if it gave one; otherwise the step loads it.
  absl::StatusOr<StepOutcome> Step(pqxx::work& tx, DbSession& db, const OperationRow& op, const std::string& owner,
                                   std::optional<InstanceRow> instance = std::nullopt);

 private:
  absl::StatusOr<StepOutcome> Provision(pqxx::work& tx, DbSession& db, const OperationRow& op, InstanceRow& instance,
                                        const std::string& owner);
  absl::StatusOr<StepOutcome> Release(pqxx::work& tx, DbSession& db, const OperationRow& op, InstanceRow& instance,
                                      const std::string& owner);
  absl::StatusOr<StepOutcome> Repair(pqxx::work& tx, DbSession& db, const OperationRow& op, InstanceRow& instance,
                                     const std::string& owner);
  absl::StatusOr<StepOutcome> Roll(pqxx::work& tx, DbSession& db, const OperationRow& op, InstanceRow& instance,
                                   const std::string& owner);
  absl::StatusOr<StepOutcome> RollBack(pqxx::work& tx, DbSession& db, const OperationRow& op, InstanceRow& instance,
                                       const std::string& owner, absl::StatusCode code, const std::string& message);
  absl::Status ShowRollProgress(pqxx::work& tx, DbSession& db, InstanceRow& instance, const std::string& message,
                                const std::string& operation_id);
  absl::StatusOr<StepOutcome> CancelProvision(pqxx::work& tx, DbSession& db, const OperationRow& op,
                                              InstanceRow& instance, const std::string& owner);
  // Puts the missing replicas on nodes with free GPUs. RESOURCE_EXHAUSTED says what was needed and free.
  // `replicas`: the instance's replicas if the caller has just read them (under the instance lock).
  absl::Status PlaceMissingReplicas(pqxx::work& tx, DbSession& db, const InstanceRow& instance,
                                    const std::vector<ReplicaRow>* replicas = nullptr);
  // Places replicas of `configuration` until `count` of them are meant to run (ordinals: the lowest free).
  absl::Status PlaceReplicasOf(pqxx::work& tx, DbSession& db, const InstanceRow& instance,
                               const std::string& configuration, int64_t count,
                               const std::vector<ReplicaRow>* replicas = nullptr);
  // Instance -> ERROR, replicas released, operation done with `code`.
  StepOutcome Fail(pqxx::work& tx, DbSession& db, const OperationRow& op, InstanceRow& instance,
                   const std::string& owner, absl::StatusCode code, const std::string& message);

  std::shared_ptr<const catalog::Catalog> catalog_;
  const ControlplaneConfig* config_;
};

// After replicas of an ACTIVE instance changed (a failure report, a node going DOWN): if replicas were
// lost and no operation runs on the instance, starts a RepairInstance operation that places replacements
// (best fit, elsewhere first) and brings the instance back to ACTIVE by itself. Meanwhile an instance with
// other serving replicas stays ACTIVE (status_message says it is degraded); one with none is STARTING.
// A repair that cannot finish within `repair_timeout` (no capacity, engines failing again) ends in ERROR.
absl::Status ReconcileActiveInstance(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                                     absl::Duration repair_timeout);

}  // namespace dedicated::controlplane
