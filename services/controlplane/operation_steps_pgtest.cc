// The operation state machine against the real PostgreSQL, driven step by step with a fake node that
// reports what a node-agent would: lifecycle, failure paths, cancel, leases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/time/clock.h"
#include "google/protobuf/empty.pb.h"
#include "services/controlplane/node_store.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/testing/controlplane_fixture.h"

namespace dedicated::controlplane {
namespace {

using ::testing::HasSubstr;

class OperationStepsTest : public testing::ControlplaneFixture {
 protected:
  template <typename Req>
  Req ForInstance(const std::string& id) {
    Req r;
    r.set_instance_id(id);
    return r;
  }
  v1::Operation Start(const std::string& id) {
    return *api_.Start(session_, rc_, ForInstance<v1::StartInstanceRequest>(id));
  }
  v1::Operation Stop(const std::string& id) {
    return *api_.Stop(session_, rc_, ForInstance<v1::StopInstanceRequest>(id));
  }
  v1::Operation Delete(const std::string& id) {
    return *api_.Delete(session_, rc_, ForInstance<v1::DeleteInstanceRequest>(id));
  }
  v1::Operation GetOp(const std::string& id) {
    v1::GetOperationRequest r;
    r.set_operation_id(id);
    return *api_.GetOperation(session_, rc_, r);
  }

  // Creates an instance and brings it to ACTIVE on `node`.
  std::string ActiveInstance(const std::string& node, const std::string& name = "inst") {
    v1::Operation op = CreateInstance(name);
    DriveSteps();
    ReportAll(node, v1::ReplicaStatus::READY);
    v1::Operation done = DriveUntilDone(op.id());
    EXPECT_TRUE(done.has_response()) << done.error().message();
    return InstanceIdOf(op);
  }
  // Marks `node` DOWN the way the node monitor does, and reconciles its instances.
  void MarkDown(const std::string& node) {
    ASSERT_TRUE(session_
                    .InTransaction("down",
                                   [&](pqxx::work& tx, storage::DbSession& db) -> absl::Status {
                                     tx.exec_params("UPDATE nodes SET state = 'DOWN' WHERE id = $1", node);
                                     for (const std::string& instance : InstancesOnNodes(tx, db, {node})) {
                                       absl::Status s = ReconcileActiveInstance(tx, db, instance, absl::Minutes(15));
                                       if (!s.ok()) return s;
                                     }
                                     return absl::OkStatus();
                                   })
                    .ok());
  }
};

TEST_F(OperationStepsTest, CreateBecomesActiveOnlyOnceEveryReplicaIsReady) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst", "gemma-3-12b-it", "M", 2);
  std::string id = InstanceIdOf(op);
  DriveSteps();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STARTING);
  EXPECT_EQ(FreeGpus(), 8 - 2 * 2) << "M is 2 GPUs per replica, 2 replicas";
  auto snapshot = nodes_.Snapshot(session_, node);
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->replicas_size(), 2);
  EXPECT_EQ(snapshot->replicas(0).desired_state(), v1::ReplicaAssignment::RUNNING);
  EXPECT_EQ(snapshot->replicas(0).gpu_indices_size(), 2);
  ASSERT_GE(snapshot->replicas(0).engine_commands_size(), 1);

  // One replica ready is not enough.
  v1::ReportReplicaStatusRequest report;
  report.set_node_id(node);
  report.mutable_status()->set_replica_id(snapshot->replicas(0).replica_id());
  report.mutable_status()->set_state(v1::ReplicaStatus::READY);
  report.mutable_status()->set_endpoint("127.0.0.1:20001");
  ASSERT_TRUE(nodes_.Report(session_, report).ok());
  DriveSteps();
  EXPECT_FALSE(GetOp(op.id()).done());
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STARTING);

  ReportAll(node, v1::ReplicaStatus::READY);
  v1::Operation done = DriveUntilDone(op.id());
  ASSERT_TRUE(done.has_response());
  v1::Instance response;
  ASSERT_TRUE(done.response().UnpackTo(&response));
  EXPECT_EQ(response.status(), v1::Instance::ACTIVE);
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::ACTIVE);
  EXPECT_EQ(Scalar("SELECT count(*) FROM state_transitions WHERE instance_id = '" + id +
                   "' AND replica_id IS NULL AND to_state = 'ACTIVE'"),
            1);
}

TEST_F(OperationStepsTest, StopReleasesGpusAndStartBringsItBack) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node);
  EXPECT_EQ(FreeGpus(), 7);

  v1::Operation stop = Stop(id);
  DriveSteps();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STOPPING) << "waits for the engine to stop";
  auto snapshot = nodes_.Snapshot(session_, node);
  ASSERT_EQ(snapshot->replicas_size(), 1);
  EXPECT_EQ(snapshot->replicas(0).desired_state(), v1::ReplicaAssignment::STOPPED);
  ReportAll(node, v1::ReplicaStatus::STOPPED);
  v1::Operation stopped = DriveUntilDone(stop.id());
  ASSERT_TRUE(stopped.has_response()) << stopped.error().message();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STOPPED);
  EXPECT_EQ(FreeGpus(), 8);
  EXPECT_EQ(nodes_.Snapshot(session_, node)->replicas_size(), 0);

  v1::Operation start = Start(id);
  DriveSteps();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STARTING);
  ReportAll(node, v1::ReplicaStatus::READY);
  ASSERT_TRUE(DriveUntilDone(start.id()).has_response());
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::ACTIVE);
}

TEST_F(OperationStepsTest, DeleteFreesEverythingAndASecondDeleteIsNotFound) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node);
  v1::Operation del = Delete(id);
  DriveSteps();
  ReportAll(node, v1::ReplicaStatus::STOPPED);
  v1::Operation done = DriveUntilDone(del.id());
  ASSERT_TRUE(done.has_response());
  EXPECT_TRUE(done.response().Is<google::protobuf::Empty>());
  EXPECT_EQ(FreeGpus(), 8);
  v1::GetInstanceRequest get;
  get.set_instance_id(id);
  EXPECT_EQ(api_.Get(session_, rc_, get).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_.Delete(session_, rc_, ForInstance<v1::DeleteInstanceRequest>(id)).status().code(),
            absl::StatusCode::kNotFound);
  // The name is free again.
  EXPECT_TRUE(CreateInstance("inst").id().size() > 0);
}

TEST_F(OperationStepsTest, DeleteWhileDeletingIsFailedPrecondition) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node);
  Delete(id);
  absl::Status again = api_.Delete(session_, rc_, ForInstance<v1::DeleteInstanceRequest>(id)).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.message()), HasSubstr("already being deleted"));
}

TEST_F(OperationStepsTest, NoCapacityEndsWithResourceExhaustedAndNothingAllocated) {
  RegisterNode("node-1", 2);
  v1::Operation op = CreateInstance("big", "gemma-3-4b-it", "L");  // L needs 4 GPUs
  v1::Operation done = DriveUntilDone(op.id());
  ASSERT_TRUE(done.has_error());
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(done.error().message(), HasSubstr("4 x H100-80GB"));
  EXPECT_THAT(done.error().message(), HasSubstr("node-1: 2"));
  EXPECT_EQ(GetInstance(InstanceIdOf(op)).status(), v1::Instance::ERROR);
  EXPECT_EQ(FreeGpus(), 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas"), 0);
}

TEST_F(OperationStepsTest, PartialPlacementIsRolledBackWhenTheLastReplicaDoesNotFit) {
  RegisterNode("node-1", 1);
  RegisterNode("node-2", 1);
  v1::Operation op = CreateInstance("three", "gemma-3-4b-it", "S", 3);
  v1::Operation done = DriveUntilDone(op.id());
  ASSERT_TRUE(done.has_error());
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(FreeGpus(), 2);
}

TEST_F(OperationStepsTest, ReplicasSpreadAcrossNodes) {
  RegisterNode("node-1", 8);
  RegisterNode("node-2", 8);
  CreateInstance("spread", "gemma-3-4b-it", "S", 2);
  DriveSteps();
  EXPECT_EQ(Scalar("SELECT count(DISTINCT node_id) FROM replicas"), 2);
}

// A node another transaction holds (a concurrent placer taking from it) is passed over for the next best
// fit instead of waited for; once free again, best fit picks it.
TEST_F(OperationStepsTest, PlacementPassesOverANodeAnotherPlacerHolds) {
  std::string small = RegisterNode("node-1", 2);
  std::string big = RegisterNode("node-2", 8);
  pqxx::connection other(db_.dsn());
  pqxx::work hold(other);
  hold.exec_params("SELECT 1 FROM nodes WHERE id = $1 FOR UPDATE", small);
  CreateInstance("while-held");
  DriveSteps();
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas WHERE node_id = '" + big + "'"), 1);
  hold.abort();
  CreateInstance("after");
  DriveSteps();
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas WHERE node_id = '" + small + "'"), 1);
}

// When the only node that fits is held, placement waits for it rather than calling the fleet full.
TEST_F(OperationStepsTest, PlacementWaitsForAHeldNodeWhenNothingElseFits) {
  std::string node = RegisterNode("node-1", 1);
  pqxx::connection other(db_.dsn());
  pqxx::work hold(other);
  hold.exec_params("SELECT 1 FROM nodes WHERE id = $1 FOR UPDATE", node);
  std::thread release([&hold] {
    absl::SleepFor(absl::Milliseconds(300));
    hold.commit();
  });
  v1::Operation op = CreateInstance("waits");
  DriveSteps();
  release.join();
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas WHERE node_id = '" + node + "'"), 1);
  EXPECT_FALSE(GetOp(op.id()).has_error()) << GetOp(op.id()).error().message();
}

TEST_F(OperationStepsTest, FailedEngineFailsTheOperationWithItsMessage) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst");
  DriveSteps();
  ReportAll(node, v1::ReplicaStatus::FAILED, "engine exited with code 1: CUDA out of memory");
  v1::Operation done = DriveUntilDone(op.id());
  ASSERT_TRUE(done.has_error());
  EXPECT_THAT(done.error().message(), HasSubstr("CUDA out of memory"));
  v1::Instance instance = GetInstance(InstanceIdOf(op));
  EXPECT_EQ(instance.status(), v1::Instance::ERROR);
  EXPECT_THAT(instance.status_message(), HasSubstr("CUDA out of memory"));
  EXPECT_EQ(FreeGpus(), 8) << "a failed replica holds no GPU";
}

TEST_F(OperationStepsTest, ProvisioningPastItsDeadlineFails) {
  std::string node = RegisterNode("node-1", 8);
  config_.provision_timeout = absl::Milliseconds(1);
  v1::Operation op = CreateInstance("slow");
  absl::SleepFor(absl::Milliseconds(20));
  v1::Operation done = DriveUntilDone(op.id());
  ASSERT_TRUE(done.has_error());
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(FreeGpus(), 8);
}

TEST_F(OperationStepsTest, NodeDownDuringProvisioningFailsWithUnavailable) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst");
  DriveSteps();
  {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    tx.exec("UPDATE nodes SET state = 'DOWN'");
    tx.commit();
  }
  v1::Operation done = DriveUntilDone(op.id());
  ASSERT_TRUE(done.has_error());
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(FreeGpus(), 8) << "replicas on a DOWN node are released";
}

TEST_F(OperationStepsTest, CancelledCreateLeavesNothingBehind) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst");
  DriveSteps();
  ReportAll(node, v1::ReplicaStatus::STARTING);
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(op.id());
  auto cancelled = api_.CancelOperation(session_, rc_, cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  DriveSteps();
  EXPECT_FALSE(GetOp(op.id()).done()) << "waits until the engine confirms it stopped";
  ReportAll(node, v1::ReplicaStatus::STOPPED);
  v1::Operation done = DriveUntilDone(op.id());
  ASSERT_TRUE(done.has_error());
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  v1::GetInstanceRequest get;
  get.set_instance_id(InstanceIdOf(op));
  EXPECT_EQ(api_.Get(session_, rc_, get).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FreeGpus(), 8);
}

TEST_F(OperationStepsTest, CancelledStartLeavesTheInstanceStopped) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node);
  v1::Operation stop = Stop(id);
  DriveSteps();
  ReportAll(node, v1::ReplicaStatus::STOPPED);
  DriveUntilDone(stop.id());
  v1::Operation start = Start(id);
  DriveSteps();
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(start.id());
  ASSERT_TRUE(api_.CancelOperation(session_, rc_, cancel).ok());
  v1::Operation done = DriveUntilDone(start.id());  // the replica was never started: released at once
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STOPPED);
  EXPECT_EQ(FreeGpus(), 8);
}

TEST_F(OperationStepsTest, CancelRefusesDoneAndNonCancellableOperations) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation create = CreateInstance("inst");
  DriveSteps();
  ReportAll(node, v1::ReplicaStatus::READY);
  DriveUntilDone(create.id());
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(create.id());
  absl::Status s = api_.CancelOperation(session_, rc_, cancel).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("already done"));
  v1::Operation del = Delete(InstanceIdOf(create));
  cancel.set_operation_id(del.id());
  s = api_.CancelOperation(session_, rc_, cancel).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot be cancelled"));
}

TEST_F(OperationStepsTest, DeleteSupersedesACreateInFlight) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation create = CreateInstance("inst");
  DriveSteps();
  v1::Operation del = Delete(InstanceIdOf(create));
  v1::Operation superseded = GetOp(create.id());
  ASSERT_TRUE(superseded.done());
  EXPECT_EQ(superseded.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_THAT(superseded.error().message(), HasSubstr(del.id()));
  ASSERT_TRUE(DriveUntilDone(del.id()).has_response());
  EXPECT_EQ(FreeGpus(), 8);
}

TEST_F(OperationStepsTest, AStepWithALostLeaseChangesNothing) {
  RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst");
  std::vector<std::string> claimed;
  ASSERT_TRUE(session_
                  .InTransaction("claim",
                                 [&](pqxx::work& tx, storage::DbSession& db) {
                                   claimed = ClaimOperations(tx, db, "worker-a", absl::Seconds(30), 1);
                                   // Another worker took over after worker-a's lease lapsed.
                                   tx.exec("UPDATE operations SET lease_owner = 'worker-b'");
                                   return absl::OkStatus();
                                 })
                  .ok());
  ASSERT_EQ(claimed.size(), 1u);
  absl::Status s = session_.InTransaction("step", [&](pqxx::work& tx, storage::DbSession& db) {
    EXPECT_FALSE(LockClaimedOperation(tx, db, op.id(), "worker-a").has_value());
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas"), 0);
}

TEST_F(OperationStepsTest, AnExpiredLeaseOfADeadWorkerIsTakenOver) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst");
  std::vector<std::string> claimed;
  ASSERT_TRUE(session_
                  .InTransaction("claim",
                                 [&](pqxx::work& tx, storage::DbSession& db) {
                                   claimed = ClaimOperations(tx, db, "dead-worker", absl::Milliseconds(1), 1);
                                   return absl::OkStatus();
                                 })
                  .ok());
  ASSERT_EQ(claimed.size(), 1u);
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(runner_.RunOne(session_)) << "the lapsed lease is claimable";
  ReportAll(node, v1::ReplicaStatus::READY);
  ASSERT_TRUE(DriveUntilDone(op.id()).has_response());
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas"), 1) << "one replica, not two";
}

TEST_F(OperationStepsTest, AnActiveInstanceWhoseOnlyReplicaFailsIsRepairedByItself) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node);
  ReportAll(node, v1::ReplicaStatus::FAILED, "engine crashed");
  v1::Instance instance = GetInstance(id);
  EXPECT_EQ(instance.status(), v1::Instance::STARTING) << "nothing serves while the replica is replaced";
  EXPECT_THAT(instance.status_message(), HasSubstr("engine crashed"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM operations WHERE kind = 'RepairInstance' AND created_by = 'system'"), 1);
  DriveSteps();
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas WHERE state = 'FAILED'"), 0) << "the failed replica is gone";
  ReportAll(node, v1::ReplicaStatus::READY);
  DriveSteps();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::ACTIVE);
  EXPECT_EQ(GetInstance(id).status_message(), "");
  EXPECT_EQ(FreeGpus(), 7) << "exactly one replica's GPU in use";
}

TEST_F(OperationStepsTest, ReplicasOfADeadNodeMoveAndTheInstanceComesBack) {
  std::string a = RegisterNode("node-a", 4);
  std::string id = ActiveInstance(a);
  std::string b = RegisterNode("node-b", 4);
  MarkDown(a);
  v1::Instance instance = GetInstance(id);
  EXPECT_EQ(instance.status(), v1::Instance::STARTING);
  EXPECT_THAT(instance.status_message(), HasSubstr("is down"));
  DriveSteps();
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas WHERE node_id = '" + b + "'"), 1) << "moved to node-b";
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas WHERE node_id = '" + a + "'"), 0);
  ReportAll(b, v1::ReplicaStatus::READY);
  DriveSteps();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::ACTIVE);
  EXPECT_EQ(Scalar("SELECT count(*) FROM gpus WHERE replica_id IS NOT NULL"), 1) << "no GPU leaked";
}

TEST_F(OperationStepsTest, AnInstanceWithAnotherServingReplicaStaysActiveWhileRepaired) {
  std::string a = RegisterNode("node-a", 4);
  std::string b = RegisterNode("node-b", 4);
  v1::Operation op = CreateInstance("two", "gemma-3-4b-it", "S", 2);
  DriveSteps();
  ReportAll(a, v1::ReplicaStatus::READY);
  ReportAll(b, v1::ReplicaStatus::READY);
  ASSERT_TRUE(DriveUntilDone(op.id()).has_response());
  std::string id = InstanceIdOf(op);
  std::string c = RegisterNode("node-c", 4);
  MarkDown(a);
  v1::Instance instance = GetInstance(id);
  EXPECT_EQ(instance.status(), v1::Instance::ACTIVE) << "node-b still serves";
  EXPECT_THAT(instance.status_message(), HasSubstr("degraded: 1 of 2"));
  DriveSteps();
  EXPECT_EQ(Scalar("SELECT count(*) FROM replicas WHERE node_id = '" + c + "'"), 1)
      << "spread: the replacement goes to node-c, not next to the survivor on node-b";
  ReportAll(c, v1::ReplicaStatus::READY);
  DriveSteps();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::ACTIVE);
  EXPECT_EQ(GetInstance(id).status_message(), "");
}

TEST_F(OperationStepsTest, ARepairWaitsForCapacityAndAStopSupersedesIt) {
  std::string a = RegisterNode("node-a", 4);
  std::string id = ActiveInstance(a);
  MarkDown(a);
  DriveSteps();
  v1::Instance instance = GetInstance(id);
  EXPECT_EQ(instance.status(), v1::Instance::STARTING);
  EXPECT_THAT(instance.status_message(), HasSubstr("waiting for capacity"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM operations WHERE kind = 'RepairInstance' AND NOT done"), 1)
      << "still trying, not failed";
  v1::Operation stop = Stop(id);
  DriveUntilDone(stop.id());
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STOPPED);
  EXPECT_EQ(Scalar("SELECT count(*) FROM operations WHERE kind = 'RepairInstance' AND done AND error IS NOT NULL"), 1);
}

TEST_F(OperationStepsTest, HeartbeatOfUnknownNodeIsNotFound) {
  v1::HeartbeatRequest hb;
  hb.set_node_id("dndunknown");
  EXPECT_EQ(nodes_.Heartbeat(session_, hb).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OperationStepsTest, ReRegisteringANodeKeepsItsId) {
  std::string a = RegisterNode("node-1", 8);
  std::string b = RegisterNode("node-1", 8);
  EXPECT_EQ(a, b);
  EXPECT_EQ(Scalar("SELECT count(*) FROM gpus"), 8);
}

}  // namespace
}  // namespace dedicated::controlplane
