#pragma once
// A controlplane's logic on a fresh database, without a server: APIs, steps and a runner that tests drive
// one step at a time, plus a fake node that reports what a node-agent would.

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "services/catalog/catalog.h"
#include "services/common/clock.h"
#include "services/controlplane/instance_api.h"
#include "services/controlplane/node_api.h"
#include "services/controlplane/operation_runner.h"
#include "services/controlplane/operation_steps.h"
#include "services/storage/testing/test_database.h"

namespace dedicated::controlplane::testing {

class ControlplaneFixture : public ::testing::Test {
 protected:
  ControlplaneFixture();
  // After every test: the GPU accounting invariants hold (CheckNoGpuLeak).
  void TearDown() override;
  // Every allocated GPU belongs to a replica that exists, every replica holds exactly its configuration's
  // GPU count (nodes.free_gpus agrees), and no instance that should hold nothing (STOPPED, ERROR, deleted) still wants a replica
  // running. Failures and cancels must leave nothing behind.
  void CheckNoGpuLeak();

  // Makes every unfinished operation runnable now and runs steps until none is claimable.
  void DriveSteps(int max_steps = 50);
  // Runs steps until `operation_id` is done (reporting nothing in between); fails the test otherwise.
  v1::Operation DriveUntilDone(const std::string& operation_id);

  std::string RegisterNode(const std::string& name, int gpus, const std::string& gpu_type = "H100-80GB");
  // Reports `state` for every replica the node is assigned, as an agent would.
  void ReportAll(const std::string& node_id, v1::ReplicaStatus::State state, const std::string& message = "");
  // Does what an agent would with the node's current assignments: replicas meant to run are READY, the
  // others STOPPED.
  void ActLikeAgent(const std::string& node_id);
  // One heartbeat from `node_id` with a state for each replica it is assigned.
  void HeartbeatWith(const std::string& node_id,
                     const std::function<v1::ReplicaStatus::State(const v1::ReplicaAssignment&)>& state_of,
                     const std::string& message = "");
  int FreeGpus();
  int64_t Scalar(const std::string& sql);

  v1::Operation CreateInstance(const std::string& name, const std::string& model = "gemma-3-4b-it",
                               const std::string& config = "S", int replicas = 1);
  v1::Instance GetInstance(const std::string& id);
  static std::string InstanceIdOf(const v1::Operation& op);

  storage::TestDatabase db_;
  storage::DbSession session_;
  FakeClock clock_;
  ControlplaneConfig config_;
  std::shared_ptr<const catalog::Catalog> catalog_;
  NoWakeups wakeups_;
  InstanceApi api_;
  NodeApi nodes_;
  OperationSteps steps_;
  OperationRunner runner_;
  RequestContext rc_;
};

}  // namespace dedicated::controlplane::testing
