// Rolling updates of configuration and replica_count against the real PostgreSQL, driven step by step
// with a fake agent: the instance stays ACTIVE with a serving replica at every step, new replicas are
// ready before old ones drain and stop, and every failure rolls back to what ran before.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/field_mask.pb.h"
#include "services/controlplane/node_store.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/testing/controlplane_fixture.h"

namespace dedicated::controlplane {
namespace {

using ::testing::HasSubstr;

class RollingUpdateTest : public testing::ControlplaneFixture {
 protected:
  RollingUpdateTest() { config_.drain_grace = absl::Seconds(30); }

  std::string ActiveInstance(const std::string& node, const std::string& config = "S", int replicas = 1) {
    v1::Operation op = CreateInstance("inst", "gemma-3-12b-it", config, replicas);
    DriveSteps();
    ActLikeAgent(node);
    v1::Operation done = DriveUntilDone(op.id());
    EXPECT_TRUE(done.has_response()) << done.error().message();
    return InstanceIdOf(op);
  }

  absl::StatusOr<v1::Operation> Update(const std::string& id, const std::string& config, int64_t replicas) {
    v1::UpdateInstanceRequest req;
    req.set_instance_id(id);
    if (!config.empty()) {
      req.mutable_update_mask()->add_paths("configuration");
      req.set_configuration(config);
    }
    if (replicas > 0) {
      req.mutable_update_mask()->add_paths("replica_count");
      req.set_replica_count(replicas);
    }
    return api_.Update(session_, rc_, req);
  }

  v1::Operation GetOp(const std::string& id) {
    v1::GetOperationRequest r;
    r.set_operation_id(id);
    return *api_.GetOperation(session_, rc_, r);
  }

  // Replicas a router would send requests to: READY and meant to run (not draining, not stopping).
  int64_t Serving(const std::string& id) {
    return Scalar("SELECT count(*) FROM replicas WHERE instance_id = '" + id +
                  "' AND state = 'READY' AND desired_state = 'RUNNING'");
  }
  int64_t Replicas(const std::string& id, const std::string& where) {
    return Scalar("SELECT count(*) FROM replicas WHERE instance_id = '" + id + "' AND " + where);
  }
  // The drain grace has passed for every draining replica.
  void EndDrains() {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    tx.exec("UPDATE replicas SET draining_since = now() - interval '1 hour' WHERE desired_state = 'DRAINING'");
    tx.commit();
  }
  // One worker step, then the invariants of a rolling update: ACTIVE, at least `min_serving` serving.
  void StepAndCheck(const std::string& id, int64_t min_serving) {
    DriveSteps(1);
    v1::Instance got = GetInstance(id);
    EXPECT_EQ(got.status(), v1::Instance::ACTIVE) << got.status_message();
    EXPECT_GE(Serving(id), min_serving) << "the instance must keep serving during the update";
  }
};

TEST_F(RollingUpdateTest, ConfigurationChangeKeepsServingUntilNewReplicasAreReady) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, "S", 1);
  auto op = Update(id, "M", 0);
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_FALSE(op->done());
  v1::UpdateInstanceMetadata metadata;
  ASSERT_TRUE(op->metadata().UnpackTo(&metadata));
  EXPECT_EQ(metadata.configuration(), "M");
  EXPECT_EQ(metadata.replica_count(), 1);

  StepAndCheck(id, 1);  // places the new M replica next to the S one
  EXPECT_EQ(Replicas(id, "configuration = 'M' AND desired_state = 'RUNNING'"), 1);
  EXPECT_EQ(Replicas(id, "configuration = 'S' AND desired_state = 'RUNNING'"), 1);
  EXPECT_EQ(FreeGpus(), 8 - 1 - 2) << "old S (1 GPU) and new M (2 GPUs) at once";
  v1::Instance during = GetInstance(id);
  EXPECT_EQ(during.configuration(), "S") << "the instance shows what runs until the update is done";
  EXPECT_THAT(during.status_message(), HasSubstr("updating to configuration M"));

  StepAndCheck(id, 1);  // the new one is not ready yet: nothing else happens
  EXPECT_EQ(Replicas(id, "configuration = 'S' AND desired_state = 'RUNNING'"), 1);

  ActLikeAgent(node);  // new engine READY
  StepAndCheck(id, 1);  // old replica drains
  EXPECT_EQ(Replicas(id, "configuration = 'S' AND desired_state = 'DRAINING'"), 1);
  auto snapshot = nodes_.Snapshot(session_, node);
  ASSERT_TRUE(snapshot.ok());
  for (const auto& a : snapshot->replicas()) {
    EXPECT_EQ(a.desired_state(), v1::ReplicaAssignment::RUNNING) << "a draining engine keeps running";
  }
  StepAndCheck(id, 1);
  EXPECT_FALSE(GetOp(op->id()).done()) << "the drain grace has not passed";

  EndDrains();
  StepAndCheck(id, 1);  // old replica asked to stop
  EXPECT_EQ(Replicas(id, "configuration = 'S' AND desired_state = 'STOPPED'"), 1);
  ActLikeAgent(node);
  v1::Operation done = DriveUntilDone(op->id());
  ASSERT_TRUE(done.has_response()) << done.error().message();
  v1::Instance response;
  ASSERT_TRUE(done.response().UnpackTo(&response));
  EXPECT_EQ(response.configuration(), "M");
  v1::Instance after = GetInstance(id);
  EXPECT_EQ(after.status(), v1::Instance::ACTIVE);
  EXPECT_EQ(after.status_message(), "");
  EXPECT_EQ(after.configuration(), "M");
  EXPECT_EQ(Replicas(id, "true"), 1);
  EXPECT_EQ(FreeGpus(), 8 - 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM state_transitions WHERE instance_id = '" + id +
                   "' AND configuration = 'S' AND to_state = 'DRAINING'"),
            1)
      << "billing sees when the old replica stopped serving";
}

TEST_F(RollingUpdateTest, ScalesUpThenDown) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, "S", 1);
  auto up = Update(id, "", 3);
  ASSERT_TRUE(up.ok()) << up.status();
  StepAndCheck(id, 1);
  EXPECT_EQ(Replicas(id, "desired_state = 'RUNNING'"), 3);
  EXPECT_EQ(Scalar("SELECT count(DISTINCT ordinal) FROM replicas WHERE instance_id = '" + id + "'"), 3);
  ActLikeAgent(node);
  v1::Operation done = DriveUntilDone(up->id());
  ASSERT_TRUE(done.has_response()) << done.error().message();
  EXPECT_EQ(GetInstance(id).replica_count(), 3);
  EXPECT_EQ(Serving(id), 3);

  auto down = Update(id, "", 1);
  ASSERT_TRUE(down.ok()) << down.status();
  StepAndCheck(id, 1);
  EXPECT_EQ(Replicas(id, "desired_state = 'DRAINING'"), 2);
  EXPECT_EQ(Serving(id), 1);
  EndDrains();
  StepAndCheck(id, 1);
  ActLikeAgent(node);
  done = DriveUntilDone(down->id());
  ASSERT_TRUE(done.has_response()) << done.error().message();
  EXPECT_EQ(GetInstance(id).replica_count(), 1);
  EXPECT_EQ(Replicas(id, "true"), 1);
  EXPECT_EQ(FreeGpus(), 7);
}

// An empty set retires nothing (it once meant "all", a trap for a caller whose set came out empty).
TEST_F(RollingUpdateTest, RetireReplicasTakesExactlyTheGivenReplicas) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, "S", 2);
  auto retire = [&](const std::set<std::string>& ids) {
    int remaining = -1;
    absl::Status s = session_.InTransaction("retire", [&](pqxx::work& tx, storage::DbSession& db) {
      remaining = RetireReplicas(tx, db, id, ids, RetireOptions{.operation_id = ""});
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return remaining;
  };
  EXPECT_EQ(retire({}), 0);
  EXPECT_EQ(Serving(id), 2) << "an empty set must leave every replica running";

  std::string one;
  {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    one = tx.exec1("SELECT min(id) FROM replicas WHERE instance_id = '" + id + "'")[0].as<std::string>();
  }
  EXPECT_EQ(retire({one}), 1) << "asked to stop; the engine has not stopped yet";
  EXPECT_EQ(Replicas(id, "desired_state = 'STOPPED'"), 1);
  EXPECT_EQ(Serving(id), 1) << "the other replica is untouched";
}

TEST_F(RollingUpdateTest, NoCapacityRollsBackAndKeepsTheOldReplica) {
  std::string node = RegisterNode("node-1", 4);
  std::string id = ActiveInstance(node, "S", 1);
  auto op = Update(id, "L", 0);  // L needs 4 GPUs; 3 are free while S runs
  ASSERT_TRUE(op.ok()) << op.status();
  v1::Operation done = DriveUntilDone(op->id());
  ASSERT_TRUE(done.has_error());
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(done.error().message(), HasSubstr("rolled back"));
  v1::Instance after = GetInstance(id);
  EXPECT_EQ(after.status(), v1::Instance::ACTIVE);
  EXPECT_EQ(after.configuration(), "S");
  EXPECT_EQ(after.status_message(), "");
  EXPECT_EQ(Serving(id), 1);
  EXPECT_EQ(FreeGpus(), 3);
}

TEST_F(RollingUpdateTest, FailingNewEngineRollsBack) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, "S", 1);
  auto op = Update(id, "M", 0);
  ASSERT_TRUE(op.ok()) << op.status();
  StepAndCheck(id, 1);
  std::string new_replica;
  {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    new_replica = tx.exec1("SELECT id FROM replicas WHERE configuration = 'M'")[0].as<std::string>();
  }
  v1::ReportReplicaStatusRequest report;
  report.set_node_id(node);
  report.mutable_status()->set_replica_id(new_replica);
  report.mutable_status()->set_state(v1::ReplicaStatus::FAILED);
  report.mutable_status()->set_message("CUDA out of memory");
  ASSERT_TRUE(nodes_.Report(session_, report).ok());
  v1::Operation done = DriveUntilDone(op->id());
  ASSERT_TRUE(done.has_error());
  EXPECT_THAT(done.error().message(), HasSubstr("CUDA out of memory"));
  EXPECT_EQ(GetInstance(id).configuration(), "S");
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::ACTIVE);
  EXPECT_EQ(Serving(id), 1);
  EXPECT_EQ(Replicas(id, "true"), 1) << "the failed replica is gone with its GPUs";
  EXPECT_EQ(FreeGpus(), 7);
}

TEST_F(RollingUpdateTest, CancelRollsBackAndStopSupersedes) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, "S", 1);
  auto op = Update(id, "M", 2);
  ASSERT_TRUE(op.ok()) << op.status();
  StepAndCheck(id, 1);
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(op->id());
  ASSERT_TRUE(api_.CancelOperation(session_, rc_, cancel).ok());
  v1::Operation done = DriveUntilDone(op->id());
  ASSERT_TRUE(done.has_error());
  EXPECT_EQ(done.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  ActLikeAgent(node);
  DriveSteps();
  EXPECT_EQ(GetInstance(id).configuration(), "S");
  EXPECT_EQ(GetInstance(id).replica_count(), 1);
  EXPECT_EQ(FreeGpus(), 7);

  // A Stop in the middle of an update wins; the instance keeps its previous configuration.
  auto again = Update(id, "M", 0);
  ASSERT_TRUE(again.ok()) << again.status();
  DriveSteps(1);
  v1::StopInstanceRequest stop_req;
  stop_req.set_instance_id(id);
  auto stop = api_.Stop(session_, rc_, stop_req);
  ASSERT_TRUE(stop.ok()) << stop.status();
  EXPECT_EQ(GetOp(again->id()).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  DriveSteps();
  ActLikeAgent(node);
  v1::Operation stopped = DriveUntilDone(stop->id());
  ASSERT_TRUE(stopped.has_response()) << stopped.error().message();
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STOPPED);
  EXPECT_EQ(GetInstance(id).configuration(), "S");
  EXPECT_EQ(FreeGpus(), 8);
}

TEST_F(RollingUpdateTest, StoppedInstanceTakesNewValuesAtOnceAndBusyOnesRefuse) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation create = CreateInstance("inst", "gemma-3-12b-it", "S", 1);
  std::string id = InstanceIdOf(create);
  auto busy = Update(id, "M", 0);
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(busy.status().message()), HasSubstr("CREATING"));

  DriveSteps();
  ActLikeAgent(node);
  ASSERT_TRUE(DriveUntilDone(create.id()).has_response());
  auto bad = Update(id, "XL", 0);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("configuration"));
  v1::UpdateInstanceRequest zero;
  zero.set_instance_id(id);
  zero.mutable_update_mask()->add_paths("replica_count");
  auto bad_count = api_.Update(session_, rc_, zero);
  EXPECT_EQ(bad_count.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_count.status().message()), HasSubstr("replica_count"));
  auto same = Update(id, "S", 1);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_TRUE(same->done()) << "nothing to roll out";

  v1::StopInstanceRequest stop_req;
  stop_req.set_instance_id(id);
  auto stop = api_.Stop(session_, rc_, stop_req);
  ASSERT_TRUE(stop.ok());
  DriveSteps();
  ActLikeAgent(node);
  ASSERT_TRUE(DriveUntilDone(stop->id()).has_response());
  auto op = Update(id, "L", 2);
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_TRUE(op->done());
  EXPECT_EQ(GetInstance(id).configuration(), "L");
  EXPECT_EQ(GetInstance(id).replica_count(), 2);
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STOPPED);
}

}  // namespace
}  // namespace dedicated::controlplane
