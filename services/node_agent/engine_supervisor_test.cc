#include "services/node_agent/engine_supervisor.h"

#include <sys/wait.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/node_agent/engine_record_store.h"
#include "services/node_agent/readiness_probe.h"
#include "services/node_agent/test_util.h"

namespace dedicated::node_agent {
namespace {

using ::dedicated::v1::Assignments;
using ::dedicated::v1::EngineCommand;
using ::dedicated::v1::ReplicaAssignment;
using ::dedicated::v1::ReplicaStatus;
using ::testing::ElementsAre;
using testing::FakeEngineCommand;
using ::testing::HasSubstr;
using testing::ProcessAlive;
using testing::ReadPidFile;
using testing::Replica;
using testing::WaitUntil;

Assignments Snapshot(std::vector<ReplicaAssignment> replicas, int64_t version = 1) {
  Assignments s;
  s.set_version(version);
  for (ReplicaAssignment& r : replicas) *s.add_replicas() = std::move(r);
  return s;
}

// A pid that the test process forked and the supervisor must have reaped: no such child any more, not
// even a zombie. WNOWAIT: looking must not reap it in the supervisor's place.
bool Reaped(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD &&
         !ProcessAlive(pid);
}

class EngineSupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.engine_kind = "test";
    options_.host = "127.0.0.1";
    options_.log_dir = testing::NewTempDir("supervisor");
    options_.gpu_count = 4;
    options_.probe_interval = absl::Milliseconds(20);
    options_.stop_grace = absl::Seconds(2);
    options_.readiness_timeout = absl::Seconds(10);
  }

  EngineSupervisor& Supervisor() {
    if (supervisor_ == nullptr) {
      supervisor_ = std::make_unique<EngineSupervisor>(options_, &launcher_, &ports_, nullptr,
                                                       [this](const ReplicaStatus& s) { statuses_.Add(s); });
    }
    return *supervisor_;
  }

  std::string Dir() const { return options_.log_dir; }

  SupervisorOptions options_;
  testing::RecordingLauncher launcher_;
  PortAllocator ports_{"127.0.0.1", {20000, 29999}};
  testing::StatusLog statuses_;
  std::unique_ptr<EngineSupervisor> supervisor_;
};

TEST_F(EngineSupervisorTest, StartsEngineAndReportsStartingThenReadyWithEndpoint) {
  EngineCommand other_kind;
  other_kind.set_engine_kind("vllm");
  other_kind.add_argv("vllm");
  Supervisor().Reconcile(
      Snapshot({Replica("r1", {1, 3}, {other_kind, FakeEngineCommand({"--ready-after-ms", "300"})})}));

  ReplicaStatus ready;
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY, absl::Seconds(10), &ready));
  EXPECT_THAT(statuses_.States("r1"), ElementsAre(ReplicaStatus::STARTING, ReplicaStatus::READY));

  // The command of our kind ran, with {host} and {port} filled and the replica's GPUs visible.
  std::vector<LaunchSpec> specs = launcher_.specs();
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].argv[0], testing::FakeEnginePath());
  const std::string port = specs[0].argv[4];
  EXPECT_THAT(specs[0].argv,
              ElementsAre(testing::FakeEnginePath(), "--host", "127.0.0.1", "--port", port, "--ready-after-ms", "300"));
  EXPECT_EQ(ready.endpoint(), "127.0.0.1:" + port);
  EXPECT_EQ(HttpGetStatus("127.0.0.1", std::stoi(port), "/health", absl::Seconds(2)).value_or(0), 200);
  // The engine itself saw CUDA_VISIBLE_DEVICES (it prints it into its log).
  EXPECT_THAT(testing::ReadFile(Supervisor().LogPathOf("r1")), HasSubstr("CUDA_VISIBLE_DEVICES=1,3"));
  EXPECT_EQ(Supervisor().StatusOf("r1")->state(), ReplicaStatus::READY);
}

TEST_F(EngineSupervisorTest, UnassignedEngineIsTerminatedReapedAndReportedStopped) {
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()})}));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY));
  pid_t pid = Supervisor().PidOf("r1").value_or(0);
  ASSERT_TRUE(ProcessAlive(pid));

  Supervisor().Reconcile(Snapshot({}, 2));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::STOPPED));
  EXPECT_TRUE(Reaped(pid));
  EXPECT_FALSE(Supervisor().PidOf("r1").has_value());
  // The engine exited through its SIGTERM handler, i.e. it was asked politely first.
  EXPECT_THAT(testing::ReadFile(Supervisor().LogPathOf("r1")), HasSubstr("SIGTERM, exiting"));
  // Still listed (STOPPED) until a heartbeat carried that; then forgotten.
  ASSERT_TRUE(Supervisor().StatusOf("r1").has_value());
  Supervisor().Forget({"r1"});
  EXPECT_FALSE(Supervisor().StatusOf("r1").has_value());
}

TEST_F(EngineSupervisorTest, DesiredStoppedStopsEngineAndKeepsReportingStopped) {
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()})}));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY));
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()}, ReplicaAssignment::STOPPED)}, 2));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::STOPPED));
  // Still assigned (as STOPPED): heartbeats keep saying so, Forget does not drop it.
  Supervisor().Forget({"r1"});
  ASSERT_TRUE(Supervisor().StatusOf("r1").has_value());
  EXPECT_EQ(Supervisor().StatusOf("r1")->state(), ReplicaStatus::STOPPED);

  // Wanted again: a new engine starts.
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()})}, 3));
  ASSERT_TRUE(WaitUntil([&] { return statuses_.States("r1").size() == 5; }));
  EXPECT_THAT(statuses_.States("r1"), ElementsAre(ReplicaStatus::STARTING, ReplicaStatus::READY, ReplicaStatus::STOPPED,
                                                  ReplicaStatus::STARTING, ReplicaStatus::READY));
  EXPECT_EQ(launcher_.specs().size(), 2u);
}

TEST_F(EngineSupervisorTest, StopEscalatesToSigkillWhenEngineIgnoresSigterm) {
  options_.stop_grace = absl::Milliseconds(300);
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand({"--ignore-sigterm"})})}));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY));
  pid_t pid = Supervisor().PidOf("r1").value_or(0);
  const absl::Time start = absl::Now();
  Supervisor().Reconcile(Snapshot({}, 2));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::STOPPED));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  EXPECT_TRUE(Reaped(pid));
}

TEST_F(EngineSupervisorTest, StopKillsTheWholeProcessGroup) {
  const std::string child_pid_file = Dir() + "/child.pid";
  options_.stop_grace = absl::Milliseconds(300);
  Supervisor().Reconcile(
      Snapshot({Replica("r1", {0}, {FakeEngineCommand({"--spawn-child", "--child-pid-file", child_pid_file})})}));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY));
  pid_t child = ReadPidFile(child_pid_file);
  ASSERT_TRUE(ProcessAlive(child));
  Supervisor().Reconcile(Snapshot({}, 2));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::STOPPED));
  // The child ignored SIGTERM and outlived its parent; the group SIGKILL got it.
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(child); }, absl::Seconds(2)));
}

TEST_F(EngineSupervisorTest, EngineExitingBeforeReadyFailsWithExitCodeAndLogTail) {
  Supervisor().Reconcile(Snapshot({Replica(
      "r1", {0}, {FakeEngineCommand({"--ready-after-ms", "100000", "--crash-after-ms", "100", "--exit-code", "3"})})}));
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::FAILED, absl::Seconds(10), &failed));
  EXPECT_THAT(failed.message(), HasSubstr("before becoming ready"));
  EXPECT_THAT(failed.message(), HasSubstr("exit code 3"));
  EXPECT_THAT(failed.message(), HasSubstr("crashing as asked"));
  EXPECT_THAT(statuses_.States("r1"), ElementsAre(ReplicaStatus::STARTING, ReplicaStatus::FAILED));

  // Level-triggered re-application of the same snapshot does not restart a failed engine.
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()})}, 2));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(launcher_.specs().size(), 1u);
  EXPECT_EQ(Supervisor().StatusOf("r1")->state(), ReplicaStatus::FAILED);

  // Taking it away turns it STOPPED; asking for it again starts it afresh.
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()}, ReplicaAssignment::STOPPED)}, 3));
  EXPECT_EQ(Supervisor().StatusOf("r1")->state(), ReplicaStatus::STOPPED);
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()})}, 4));
  ASSERT_TRUE(WaitUntil([&] { return Supervisor().StatusOf("r1")->state() == ReplicaStatus::READY; }));
  EXPECT_EQ(launcher_.specs().size(), 2u);
}

TEST_F(EngineSupervisorTest, ReadyEngineThatDiesIsReportedFailed) {
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand({"--crash-after-ms", "400"})})}));
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::FAILED, absl::Seconds(10), &failed));
  EXPECT_THAT(statuses_.States("r1"),
              ElementsAre(ReplicaStatus::STARTING, ReplicaStatus::READY, ReplicaStatus::FAILED));
  EXPECT_THAT(failed.message(), HasSubstr("exited unexpectedly: exit code 1"));
  EXPECT_FALSE(Supervisor().PidOf("r1").has_value());
}

TEST_F(EngineSupervisorTest, EngineNotReadyInTimeIsKilledAndFailed) {
  options_.readiness_timeout = absl::Milliseconds(400);
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand({"--ready-after-ms", "100000"})})}));
  ASSERT_TRUE(WaitUntil([&] { return Supervisor().PidOf("r1").has_value(); }));
  pid_t pid = *Supervisor().PidOf("r1");
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::FAILED, absl::Seconds(10), &failed));
  EXPECT_THAT(failed.message(), HasSubstr("not ready within 400ms"));
  EXPECT_THAT(failed.message(), HasSubstr("HTTP 503"));
  EXPECT_TRUE(Reaped(pid));
}

TEST_F(EngineSupervisorTest, MissingCommandForEngineKindFailsWithoutLaunching) {
  EngineCommand vllm;
  vllm.set_engine_kind("vllm");
  vllm.add_argv("vllm");
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {vllm})}));
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.Find("r1", ReplicaStatus::FAILED, &failed));
  EXPECT_EQ(failed.message(), "no engine command for kind test");
  EXPECT_TRUE(launcher_.specs().empty());
}

TEST_F(EngineSupervisorTest, UnfilledPlaceholderFailsWithoutLaunching) {
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand({"--model", "{weights}"})})}));
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.Find("r1", ReplicaStatus::FAILED, &failed));
  EXPECT_THAT(failed.message(), HasSubstr("{weights}"));
  EXPECT_TRUE(launcher_.specs().empty());
}

TEST_F(EngineSupervisorTest, MissingExecutableFails) {
  EngineCommand command = FakeEngineCommand();
  command.set_argv(0, "/nonexistent/engine");
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {command})}));
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::FAILED, absl::Seconds(5), &failed));
  EXPECT_THAT(failed.message(), HasSubstr("launch failed"));
  EXPECT_THAT(failed.message(), HasSubstr("/nonexistent/engine"));
}

TEST_F(EngineSupervisorTest, GpuOutsideTheNodeFails) {
  Supervisor().Reconcile(Snapshot({Replica("r1", {4}, {FakeEngineCommand()})}));
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.Find("r1", ReplicaStatus::FAILED, &failed));
  EXPECT_THAT(failed.message(), HasSubstr("GPU index 4 out of range"));
}

TEST_F(EngineSupervisorTest, GpuHeldByAnotherRunningReplicaFails) {
  Supervisor().Reconcile(
      Snapshot({Replica("r1", {0, 1}, {FakeEngineCommand()}), Replica("r2", {1}, {FakeEngineCommand()})}));
  ReplicaStatus failed;
  ASSERT_TRUE(statuses_.Find("r2", ReplicaStatus::FAILED, &failed));
  EXPECT_THAT(failed.message(), HasSubstr("GPU 1 is in use by replica r1"));
  EXPECT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY));
}

TEST_F(EngineSupervisorTest, StartWaitsUntilGpusOfAStoppingEngineAreFree) {
  options_.stop_grace = absl::Milliseconds(400);
  Supervisor().Reconcile(Snapshot({Replica("old", {2}, {FakeEngineCommand({"--ignore-sigterm"})})}));
  ASSERT_TRUE(statuses_.WaitFor("old", ReplicaStatus::READY));
  Supervisor().Reconcile(Snapshot({Replica("new", {2}, {FakeEngineCommand()})}, 2));
  ASSERT_TRUE(statuses_.WaitFor("new", ReplicaStatus::READY));
  // "new" started only after "old" released GPU 2.
  std::vector<ReplicaStatus> all = statuses_.All();
  auto index_of = [&](const std::string& id, ReplicaStatus::State state) {
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].replica_id() == id && all[i].state() == state) return static_cast<int>(i);
    }
    return -1;
  };
  EXPECT_LT(index_of("old", ReplicaStatus::STOPPED), index_of("new", ReplicaStatus::STARTING));
  EXPECT_GE(index_of("old", ReplicaStatus::STOPPED), 0);
}

TEST_F(EngineSupervisorTest, DesiredStoppedReplicaNeverRunHereIsReportedStopped) {
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()}, ReplicaAssignment::STOPPED)}));
  EXPECT_THAT(statuses_.States("r1"), ElementsAre(ReplicaStatus::STOPPED));
  EXPECT_TRUE(launcher_.specs().empty());
}

TEST_F(EngineSupervisorTest, StopAllStopsEveryEngineAndRefusesNewOnes) {
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {FakeEngineCommand()}),
                                   Replica("r2", {1}, {FakeEngineCommand({"--ready-after-ms", "100000"})})}));
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY));
  ASSERT_TRUE(WaitUntil([&] { return Supervisor().PidOf("r2").has_value(); }));
  pid_t p1 = *Supervisor().PidOf("r1"), p2 = *Supervisor().PidOf("r2");
  Supervisor().StopAll();
  EXPECT_EQ(Supervisor().StatusOf("r1")->state(), ReplicaStatus::STOPPED);
  EXPECT_EQ(Supervisor().StatusOf("r2")->state(), ReplicaStatus::STOPPED);
  EXPECT_TRUE(Reaped(p1));
  EXPECT_TRUE(Reaped(p2));
  Supervisor().Reconcile(Snapshot({Replica("r3", {2}, {FakeEngineCommand()})}, 2));
  EXPECT_FALSE(Supervisor().StatusOf("r3").has_value());
}

// The real engine-sim with the catalog's template, when it has been built next to the tests.
TEST_F(EngineSupervisorTest, RunsRealEngineSimFromCatalogTemplate) {
  const std::string engine_sim = testing::BinDir() + "/engine-sim";
  if (access(engine_sim.c_str(), X_OK) != 0) GTEST_SKIP() << "engine-sim not built in " << testing::BinDir();
  options_.engine_kind = "engine-sim";
  options_.engine_sim_path = engine_sim;
  EngineCommand command;
  command.set_engine_kind("engine-sim");
  for (const char* arg :
       {"{engine_sim}", "--host", "{host}", "--port", "{port}", "--served-model-name", "inst-1", "--max-concurrency",
        "8", "--context-length", "32768", "--ttft-ms", "125", "--inter-token-ms", "11"}) {
    command.add_argv(arg);
  }
  command.set_readiness_path("/health");
  Supervisor().Reconcile(Snapshot({Replica("r1", {0}, {command})}));
  ReplicaStatus ready;
  ASSERT_TRUE(statuses_.WaitFor("r1", ReplicaStatus::READY, absl::Seconds(10), &ready))
      << testing::ReadFile(Supervisor().LogPathOf("r1"));
  Supervisor().StopAll();
  EXPECT_EQ(Supervisor().StatusOf("r1")->state(), ReplicaStatus::STOPPED);
}

// Adoption at the supervisor level: a first supervisor starts an engine and detaches (an agent exiting with
// --keep-engines-on-exit), a second one over the same records takes it over.
class EngineAdoptionTest : public EngineSupervisorTest {
 protected:
  void SetUp() override {
    EngineSupervisorTest::SetUp();
    options_.engines_outlive_agent = true;
    auto records = EngineRecordStore::Open(Dir() + "/state");
    ASSERT_TRUE(records.ok()) << records.status();
    records_ = *std::move(records);
  }

  void TearDown() override {
    if (successor_ != nullptr) successor_->StopAll();
    if (pid_ > 0 && ProcessAlive(pid_)) kill(-pid_, SIGKILL);
    // The engine was the test process's child: do not leave a zombie.
    if (pid_ > 0) waitpid(pid_, nullptr, WNOHANG);
  }

  // Starts r1 under a first supervisor, waits for `state`, then detaches it; returns the engine's pid.
  pid_t StartAndDetach(std::vector<std::string> engine_args, ReplicaStatus::State state) {
    EngineSupervisor first(
        options_, &launcher_, &ports_, nullptr, [this](const ReplicaStatus& s) { statuses_.Add(s); }, records_.get());
    first.Reconcile(Snapshot({Replica("r1", {2}, {FakeEngineCommand(engine_args)})}));
    EXPECT_TRUE(statuses_.WaitFor("r1", state));
    pid_ = first.PidOf("r1").value_or(0);
    first.Detach();
    return pid_;
  }

  EngineSupervisor& Successor() {
    successor_ = std::make_unique<EngineSupervisor>(
        options_, &successor_launcher_, &successor_ports_, nullptr,
        [this](const ReplicaStatus& s) { successor_statuses_.Add(s); }, records_.get());
    return *successor_;
  }

  std::unique_ptr<EngineRecordStore> records_;
  pid_t pid_ = 0;
  testing::RecordingLauncher successor_launcher_;
  PortAllocator successor_ports_{"127.0.0.1", {20000, 29999}};
  testing::StatusLog successor_statuses_;
  std::unique_ptr<EngineSupervisor> successor_;
};

TEST_F(EngineAdoptionTest, DetachedEngineNotYetReadyIsAdoptedStartingThenReady) {
  const pid_t pid = StartAndDetach({"--ready-after-ms", "1500"}, ReplicaStatus::STARTING);
  ASSERT_TRUE(ProcessAlive(pid));
  EXPECT_FALSE(statuses_.Find("r1", ReplicaStatus::STOPPED));

  EngineSupervisor& successor = Successor();
  ASSERT_EQ(successor.Adopt(), 1);
  ReplicaStatus starting;
  ASSERT_TRUE(successor_statuses_.Find("r1", ReplicaStatus::STARTING, &starting));
  EXPECT_EQ(starting.message(), absl::StrCat("adopted pid ", pid));
  EXPECT_EQ(successor.PidOf("r1").value_or(0), pid);
  ReplicaStatus ready;
  ASSERT_TRUE(successor_statuses_.WaitFor("r1", ReplicaStatus::READY, absl::Seconds(10), &ready));
  // Its port stays reserved: no other engine of this agent gets it.
  EXPECT_FALSE(successor_ports_.Reserve(std::stoi(ready.endpoint().substr(ready.endpoint().rfind(':') + 1))));

  // Still wanted: kept, nothing launched. Unwanted: stopped, and its record goes.
  successor.Reconcile(Snapshot({Replica("r1", {2}, {FakeEngineCommand()})}));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(successor_launcher_.specs().empty());
  EXPECT_TRUE(ProcessAlive(pid));
  successor.Reconcile(Snapshot({}, 2));
  ASSERT_TRUE(successor_statuses_.WaitFor("r1", ReplicaStatus::STOPPED));
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_TRUE(records_->LoadAll().empty());
}

TEST_F(EngineAdoptionTest, AdoptedEngineThatExitsIsReportedFailedWithItsLog) {
  StartAndDetach({"--crash-after-ms", "1500"}, ReplicaStatus::READY);
  EngineSupervisor& successor = Successor();
  ASSERT_EQ(successor.Adopt(), 1);
  EXPECT_THAT(successor_statuses_.States("r1"), ElementsAre(ReplicaStatus::READY));
  ReplicaStatus failed;
  ASSERT_TRUE(successor_statuses_.WaitFor("r1", ReplicaStatus::FAILED, absl::Seconds(10), &failed));
  EXPECT_THAT(failed.message(), HasSubstr("engine exited unexpectedly: exit status unknown"));
  EXPECT_THAT(failed.message(), HasSubstr("crashing as asked"));
  EXPECT_TRUE(records_->LoadAll().empty());
}

TEST_F(EngineAdoptionTest, DetachWithoutOutlivingEnginesStopsThem) {
  options_.engines_outlive_agent = false;
  const pid_t pid = StartAndDetach({}, ReplicaStatus::READY);
  EXPECT_TRUE(statuses_.Find("r1", ReplicaStatus::STOPPED));
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_EQ(Successor().Adopt(), 0);
}

}  // namespace
}  // namespace dedicated::node_agent
