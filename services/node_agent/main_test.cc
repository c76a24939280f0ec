// The node-agent executable end to end against the in-process fake controlplane: flags, signals, the
// metrics endpoint, that a killed agent leaves no engine behind, and that a restarted agent adopts or
// stops the engines its predecessor left.

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/node_agent/engine_record_store.h"
#include "services/node_agent/fake_node_service.h"
#include "services/node_agent/process_identity.h"
#include "services/node_agent/process_launcher.h"
#include "services/node_agent/readiness_probe.h"
#include "services/node_agent/test_util.h"

namespace dedicated::node_agent {
namespace {

using ::dedicated::v1::ReplicaStatus;
using ::testing::Each;
using testing::FakeControlplane;
using testing::FakeEngineCommand;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessAlive;
using testing::ReadFile;
using testing::Replica;
using testing::WaitUntil;

// Waits for a child to exit; returns its wait status, or -1 after `timeout`.
int WaitExit(pid_t pid, absl::Duration timeout) {
  int status = -1;
  bool done = WaitUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  return done ? status : -1;
}

class NodeAgentProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::NewTempDir("process");
    metrics_port_ = testing::FreePort();
  }

  void TearDown() override {
    if (agent_pid_ > 0 && ProcessAlive(agent_pid_)) {
      kill(agent_pid_, SIGKILL);
      WaitExit(agent_pid_, absl::Seconds(5));
    }
    // Engines that were meant to outlive an agent must not outlive the test.
    for (const ProcessIdentity& engine : engines_) {
      absl::StatusOr<int> fd = OpenProcess(engine);
      if (!fd.ok()) continue;
      kill(-engine.pid, SIGKILL);
      close(*fd);
    }
  }

  // Starts node-agent with the test's flags plus `extra`, and `env` on top of the test's environment; its
  // output goes to agent.log.
  pid_t StartNodeAgent(std::vector<std::string> extra = {}, std::vector<std::pair<std::string, std::string>> env = {}) {
    LaunchSpec spec;
    spec.argv = {testing::BinDir() + "/node-agent",
                 "--controlplane=" + controlplane_->address(),
                 "--name=proc-node",
                 "--gpus=2",
                 "--engine-kind=test",
                 "--log-dir=" + dir_ + "/engines",
                 absl::StrCat("--metrics-listen=127.0.0.1:", metrics_port_),
                 "--stop-grace=2s"};
    for (std::string& arg : extra) spec.argv.push_back(std::move(arg));
    spec.env = std::move(env);
    spec.log_path = dir_ + "/agent.log";
    // If the test binary dies (a timeout), the agent gets SIGINT, which stops engines even with
    // --keep-engines-on-exit, so no engine outlives the test.
    spec.parent_death_signal = SIGINT;
    absl::StatusOr<pid_t> pid = PosixProcessLauncher().Launch(spec);
    EXPECT_TRUE(pid.ok()) << pid.status();
    agent_pid_ = pid.value_or(0);
    return agent_pid_;
  }

  // Assigns one fake engine and waits until it is READY; returns the engine's pid.
  pid_t RunOneEngine() {
    const std::string pid_file = dir_ + "/engine.pid";
    controlplane_->service().SetAssignments({Replica("r1", {1}, {FakeEngineCommand({"--pid-file", pid_file})})});
    EXPECT_TRUE(controlplane_->service().reports().WaitFor("r1", ReplicaStatus::READY))
        << ReadFile(dir_ + "/agent.log");
    pid_t engine = testing::ReadPidFile(pid_file);
    EXPECT_TRUE(ProcessAlive(engine));
    if (absl::StatusOr<ProcessIdentity> identity = IdentifyProcess(engine); identity.ok()) {
      engines_.push_back(*identity);
    }
    return engine;
  }

  // Sends `sig` to the agent and expects it to exit 0.
  void StopAgent(int sig) {
    ASSERT_EQ(kill(agent_pid_, sig), 0);
    int status = WaitExit(agent_pid_, absl::Seconds(10));
    ASSERT_TRUE(WIFEXITED(status)) << status << "\n" << ReadFile(dir_ + "/agent.log");
    ASSERT_EQ(WEXITSTATUS(status), 0) << ReadFile(dir_ + "/agent.log");
  }

  void KillAgent() {
    ASSERT_EQ(kill(agent_pid_, SIGKILL), 0);
    ASSERT_NE(WaitExit(agent_pid_, absl::Seconds(5)), -1);
  }

  // Waits for a report of `state` for `replica_id` among the reports after the first `after` ones (those of
  // an earlier agent).
  bool WaitForReport(size_t after, const std::string& replica_id, ReplicaStatus::State state,
                     ReplicaStatus* out = nullptr) {
    return WaitUntil([&] {
      std::vector<ReplicaStatus> all = controlplane_->service().reports().All();
      for (size_t i = after; i < all.size(); ++i) {
        if (all[i].replica_id() == replica_id && all[i].state() == state) {
          if (out != nullptr) *out = all[i];
          return true;
        }
      }
      return false;
    });
  }

  // States reported for `replica_id` after the first `after` reports.
  std::vector<ReplicaStatus::State> ReportsAfter(size_t after, const std::string& replica_id) {
    std::vector<ReplicaStatus> all = controlplane_->service().reports().All();
    std::vector<ReplicaStatus::State> out;
    for (size_t i = after; i < all.size(); ++i) {
      if (all[i].replica_id() == replica_id) out.push_back(all[i].state());
    }
    return out;
  }

  size_t ReportCount() { return controlplane_->service().reports().All().size(); }

  std::string StateDir() { return dir_ + "/engines/state"; }
  std::string RecordPath(const std::string& replica_id) { return StateDir() + "/engines/" + replica_id + ".textproto"; }

  std::string dir_;
  int metrics_port_ = 0;
  std::unique_ptr<FakeControlplane> controlplane_ = std::make_unique<FakeControlplane>();
  pid_t agent_pid_ = 0;
  std::vector<ProcessIdentity> engines_;
};

int PortOf(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

TEST_F(NodeAgentProcessTest, SigtermStopsEnginesReportsStoppedAndExitsZero) {
  pid_t agent = StartNodeAgent();
  pid_t engine = RunOneEngine();
  ASSERT_EQ(kill(agent, SIGTERM), 0);
  int status = WaitExit(agent, absl::Seconds(10));
  ASSERT_TRUE(WIFEXITED(status)) << status << "\n" << ReadFile(dir_ + "/agent.log");
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(dir_ + "/agent.log");
  EXPECT_FALSE(ProcessAlive(engine));
  EXPECT_TRUE(controlplane_->service().reports().Find("r1", ReplicaStatus::STOPPED));
  // One log file per replica under --log-dir.
  EXPECT_THAT(ReadFile(dir_ + "/engines/r1.log"), HasSubstr("CUDA_VISIBLE_DEVICES=1"));
}

TEST_F(NodeAgentProcessTest, KilledAgentLeavesNoOrphanEngine) {
  pid_t agent = StartNodeAgent();
  pid_t engine = RunOneEngine();
  ASSERT_EQ(kill(agent, SIGKILL), 0);
  ASSERT_NE(WaitExit(agent, absl::Seconds(5)), -1);
  // PR_SET_PDEATHSIG delivers SIGTERM to the engine when the agent dies.
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(engine); }, absl::Seconds(5)));
}

TEST_F(NodeAgentProcessTest, GracefulRestartWithKeepEnginesAdoptsTheServingEngine) {
  StartNodeAgent({"--keep-engines-on-exit"});
  const pid_t engine = RunOneEngine();
  ReplicaStatus first_ready;
  ASSERT_TRUE(controlplane_->service().reports().Find("r1", ReplicaStatus::READY, &first_ready));
  const int port = PortOf(first_ready.endpoint());
  ASSERT_TRUE(std::filesystem::exists(RecordPath("r1")));

  StopAgent(SIGTERM);
  // Between the two agents the engine keeps serving and nobody said STOPPED.
  EXPECT_TRUE(ProcessAlive(engine));
  EXPECT_EQ(HttpGetStatus("127.0.0.1", port, "/health", absl::Seconds(2)).value_or(0), 200);
  EXPECT_FALSE(controlplane_->service().reports().Find("r1", ReplicaStatus::STOPPED));
  EXPECT_THAT(ReadFile(dir_ + "/agent.log"), HasSubstr("leaving engines running"));

  const size_t before = ReportCount();
  StartNodeAgent({"--keep-engines-on-exit"});
  ReplicaStatus ready;
  ASSERT_TRUE(WaitForReport(before, "r1", ReplicaStatus::READY, &ready)) << ReadFile(dir_ + "/agent.log");
  EXPECT_EQ(ready.endpoint(), first_ready.endpoint());
  // Straight to READY, no STARTING or STOPPED in between.
  EXPECT_THAT(ReportsAfter(before, "r1"), ::testing::ElementsAre(ReplicaStatus::READY));
  // Same process, still serving; no second engine was started (it would have rewritten the pid file).
  EXPECT_TRUE(ProcessAlive(engine));
  EXPECT_EQ(testing::ReadPidFile(dir_ + "/engine.pid"), engine);
  EXPECT_EQ(HttpGetStatus("127.0.0.1", port, "/health", absl::Seconds(2)).value_or(0), 200);
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<dedicated::v1::HeartbeatRequest> hbs = controlplane_->service().heartbeats();
    return !hbs.empty() && hbs.back().replicas_size() == 1 && hbs.back().replicas(0).state() == ReplicaStatus::READY;
  }));
  std::string body;
  ASSERT_TRUE(WaitUntil([&] {
    body = testing::HttpGetRaw(metrics_port_, "/metrics");
    return body.find("node_agent_engines{state=\"ready\"} 1") != std::string::npos;
  })) << body;
  EXPECT_THAT(body, HasSubstr("node_agent_engine_starts_total 0"));
  EXPECT_THAT(body, HasSubstr("node_agent_gpus_used 1"));

  // The adopted engine is managed like any other: unassigning it stops it.
  controlplane_->service().SetAssignments({});
  ASSERT_TRUE(WaitForReport(before, "r1", ReplicaStatus::STOPPED)) << ReadFile(dir_ + "/agent.log");
  EXPECT_FALSE(ProcessAlive(engine));
  EXPECT_FALSE(std::filesystem::exists(RecordPath("r1")));
}

TEST_F(NodeAgentProcessTest, RestartStopsAnAdoptedEngineThatIsNoLongerAssigned) {
  StartNodeAgent({"--keep-engines-on-exit"});
  const pid_t engine = RunOneEngine();
  StopAgent(SIGTERM);
  ASSERT_TRUE(ProcessAlive(engine));
  // While the agent was away the replica moved elsewhere.
  controlplane_->service().SetAssignments({});

  const size_t before = ReportCount();
  StartNodeAgent({"--keep-engines-on-exit"});
  ASSERT_TRUE(WaitForReport(before, "r1", ReplicaStatus::STOPPED)) << ReadFile(dir_ + "/agent.log");
  EXPECT_FALSE(ProcessAlive(engine));
  EXPECT_FALSE(std::filesystem::exists(RecordPath("r1")));
  EXPECT_THAT(ReadFile(dir_ + "/engines/r1.log"), HasSubstr("fake_engine: SIGTERM, exiting"));
}

TEST_F(NodeAgentProcessTest, SigintStopsEnginesEvenWithKeepEngines) {
  StartNodeAgent({"--keep-engines-on-exit"});
  const pid_t engine = RunOneEngine();
  StopAgent(SIGINT);
  EXPECT_FALSE(ProcessAlive(engine));
  EXPECT_TRUE(controlplane_->service().reports().Find("r1", ReplicaStatus::STOPPED));
  EXPECT_FALSE(std::filesystem::exists(RecordPath("r1")));
}

TEST_F(NodeAgentProcessTest, StaleRecordsAreDroppedAndNoUnrelatedProcessIsSignalled) {
  // An unrelated process that now holds a recorded pid, and a pid whose process is gone.
  LaunchSpec sleeper_spec;
  sleeper_spec.argv = {"/bin/sleep", "60"};
  sleeper_spec.log_path = dir_ + "/sleeper.log";
  absl::StatusOr<pid_t> sleeper = PosixProcessLauncher().Launch(sleeper_spec);
  ASSERT_TRUE(sleeper.ok()) << sleeper.status();
  absl::StatusOr<ProcessIdentity> sleeper_identity = IdentifyProcess(*sleeper);
  ASSERT_TRUE(sleeper_identity.ok());
  engines_.push_back(*sleeper_identity);  // killed in TearDown
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_EQ(WaitExit(dead, absl::Seconds(5)) != -1, true);
  {
    absl::StatusOr<std::unique_ptr<EngineRecordStore>> store = EngineRecordStore::Open(StateDir());
    ASSERT_TRUE(store.ok()) << store.status();
    dedicated::node_agent::v1::EngineRecord reused;
    reused.set_replica_id("r1");
    reused.set_pid(*sleeper);
    // The process under that pid started later than the recorded engine: it is not the engine.
    reused.set_start_time_ticks(sleeper_identity->start_time_ticks - 1);
    reused.set_boot_id(BootId());
    reused.set_port(testing::FreePort());
    reused.set_endpoint(absl::StrCat("127.0.0.1:", reused.port()));
    reused.set_readiness_path("/health");
    reused.add_gpu_indices(1);
    ASSERT_TRUE((*store)->Write(reused).ok());
    dedicated::node_agent::v1::EngineRecord gone = reused;
    gone.set_replica_id("gone");
    gone.set_pid(dead);
    ASSERT_TRUE((*store)->Write(gone).ok());
  }

  StartNodeAgent();
  // r1 is still assigned: it gets a fresh engine (on GPU 1, which the stale record does not hold).
  const pid_t engine = RunOneEngine();
  EXPECT_NE(engine, *sleeper);
  EXPECT_THAT(controlplane_->service().reports().States("r1"),
              ::testing::ElementsAre(ReplicaStatus::STARTING, ReplicaStatus::READY));
  EXPECT_TRUE(controlplane_->service().reports().States("gone").empty());
  // Half a second more for any stray signal: the sleeper was never signalled.
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_TRUE(ProcessAlive(*sleeper));
  EXPECT_FALSE(std::filesystem::exists(RecordPath("gone")));
  // r1's record now describes the new engine.
  EXPECT_THAT(ReadFile(RecordPath("r1")), HasSubstr(absl::StrCat("pid: ", engine)));
  const std::string log = ReadFile(dir_ + "/agent.log");
  EXPECT_THAT(log, HasSubstr("now belongs to another process"));
  EXPECT_THAT(log, Not(HasSubstr("adopted engine")));
}

// Default mode: the parent-death signal ends engines with the agent, but an engine that ignores SIGTERM
// survives a kill -9. The next agent finds it in its record and stops it.
TEST_F(NodeAgentProcessTest, EngineThatSurvivedAKilledAgentIsStoppedByTheNextStart) {
  controlplane_->service().SetAssignments(
      {Replica("r1", {1}, {FakeEngineCommand({"--pid-file", dir_ + "/engine.pid", "--ignore-sigterm"})})});
  StartNodeAgent();
  ASSERT_TRUE(controlplane_->service().reports().WaitFor("r1", ReplicaStatus::READY)) << ReadFile(dir_ + "/agent.log");
  const pid_t engine = testing::ReadPidFile(dir_ + "/engine.pid");
  absl::StatusOr<ProcessIdentity> identity = IdentifyProcess(engine);
  ASSERT_TRUE(identity.ok());
  engines_.push_back(*identity);
  KillAgent();
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_TRUE(ProcessAlive(engine)) << "the engine was meant to survive its agent";

  controlplane_->service().SetAssignments({});
  const size_t before = ReportCount();
  StartNodeAgent();
  // SIGTERM is ignored: SIGKILL after --stop-grace (2 s).
  ASSERT_TRUE(WaitForReport(before, "r1", ReplicaStatus::STOPPED)) << ReadFile(dir_ + "/agent.log");
  EXPECT_FALSE(ProcessAlive(engine));
  EXPECT_FALSE(std::filesystem::exists(RecordPath("r1")));
}

// --keep-engines-on-exit: no parent-death signal, so a kill -9 leaves the engine serving; the next agent
// adopts it instead of starting a second one.
TEST_F(NodeAgentProcessTest, EngineOfAKilledAgentIsAdoptedByTheNextStart) {
  StartNodeAgent({"--keep-engines-on-exit"});
  const pid_t engine = RunOneEngine();
  KillAgent();
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_TRUE(ProcessAlive(engine));

  const size_t before = ReportCount();
  StartNodeAgent({"--keep-engines-on-exit"});
  ASSERT_TRUE(WaitForReport(before, "r1", ReplicaStatus::READY)) << ReadFile(dir_ + "/agent.log");
  EXPECT_EQ(testing::ReadPidFile(dir_ + "/engine.pid"), engine);
  EXPECT_TRUE(ProcessAlive(engine));
  EXPECT_THAT(ReportsAfter(before, "r1"), ::testing::ElementsAre(ReplicaStatus::READY));
}

TEST_F(NodeAgentProcessTest, SecondAgentOnTheSameStateDirExitsOne) {
  StartNodeAgent();
  ASSERT_TRUE(WaitUntil([&] { return controlplane_->service().heartbeat_count() >= 1; }));
  const pid_t first = agent_pid_;
  pid_t second = StartNodeAgent({"--metrics-listen="});
  int status = WaitExit(second, absl::Seconds(5));
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_THAT(ReadFile(dir_ + "/agent.log"), HasSubstr("is in use by another node-agent"));
  agent_pid_ = first;
  EXPECT_TRUE(ProcessAlive(first));
}

// In a separate process, so that nothing but the agent's own calls drives its gRPC connection (an
// in-process server's polling threads would mask a stalled reconnect).
TEST_F(NodeAgentProcessTest, HeartbeatsResumeSoonAfterControlplaneRestart) {
  StartNodeAgent();
  ASSERT_TRUE(WaitUntil([&] { return controlplane_->service().heartbeat_count() >= 1; }))
      << ReadFile(dir_ + "/agent.log");
  const int port = controlplane_->port();
  controlplane_->Shutdown();
  // Down long enough for reconnect attempts to fail and back off.
  absl::SleepFor(absl::Milliseconds(2500));
  controlplane_ = std::make_unique<FakeControlplane>(port);
  const absl::Time restarted = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return controlplane_->service().heartbeat_count() >= 1; }, absl::Seconds(10)));
  EXPECT_LT(absl::Now() - restarted, absl::Milliseconds(1500)) << absl::Now() - restarted;
}

TEST_F(NodeAgentProcessTest, ServesMetrics) {
  StartNodeAgent();
  RunOneEngine();
  std::string body;
  ASSERT_TRUE(WaitUntil([&] {
    body = testing::HttpGetRaw(metrics_port_, "/metrics");
    return body.find("node_agent_gpus_used 1") != std::string::npos;
  })) << body;
  EXPECT_THAT(body, HasSubstr("node_agent_gpus 2"));
  EXPECT_THAT(body, HasSubstr("node_agent_engines{state=\"ready\"} 1"));
  EXPECT_THAT(body, HasSubstr("node_agent_engine_starts_total 1"));
  EXPECT_THAT(body, HasSubstr("node_agent_heartbeat_failures_total 0"));
}

TEST_F(NodeAgentProcessTest, HelpListsFlagsWithEnvironmentAndBadFlagsExitTwo) {
  pid_t help = StartNodeAgent({"--help"});
  int status = WaitExit(help, absl::Seconds(5));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::string text = ReadFile(dir_ + "/agent.log");
  for (const char* needle :
       {"--controlplane", "DI_CONTROLPLANE_ENDPOINT", "--port-range", "DI_NODE_PORT_RANGE", "--engine-sim",
        "DI_ENGINE_SIM_PATH", "--readiness-timeout", "--stop-grace", "--node-key-file", "DI_NODE_KEY_FILE",
        "DI_NODE_KEY", "--state-dir", "DI_NODE_STATE_DIR", "--keep-engines-on-exit", "KillMode=process"}) {
    EXPECT_THAT(text, HasSubstr(needle));
  }
  pid_t bad = StartNodeAgent({"--port-range=9-1"});
  status = WaitExit(bad, absl::Seconds(5));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(ReadFile(dir_ + "/agent.log"), HasSubstr("--port-range"));
}

TEST_F(NodeAgentProcessTest, NodeKeyFileIsSentOnEveryCallAndNeverLogged) {
  const std::string key_file = dir_ + "/node.key";
  std::ofstream(key_file) << "dik_process-node-secret\n";
  controlplane_->service().RequireCredential("dik_process-node-secret");
  StartNodeAgent({"--node-key-file=" + key_file});
  RunOneEngine();
  ASSERT_TRUE(WaitUntil([&] { return controlplane_->service().heartbeat_count() >= 1; }));
  std::map<std::string, std::vector<std::string>> authorizations = controlplane_->service().authorizations();
  for (const char* method : {"Register", "Heartbeat", "WatchAssignments", "ReportReplicaStatus"}) {
    EXPECT_THAT(authorizations[method], Each(std::string("Api-Key dik_process-node-secret"))) << method;
  }
  const std::string log = ReadFile(dir_ + "/agent.log");
  EXPECT_THAT(log, HasSubstr("--node-key-file " + key_file));
  EXPECT_THAT(log, Not(HasSubstr("dik_process-node-secret")));
}

TEST_F(NodeAgentProcessTest, NodeKeyFromEnvironmentWinsAndEnginesDoNotInheritIt) {
  controlplane_->service().RequireCredential("dik_env-node-secret");
  // The file does not exist: with DI_NODE_KEY set it is not read.
  StartNodeAgent({"--node-key-file=" + dir_ + "/missing.key"}, {{"DI_NODE_KEY", "dik_env-node-secret"}});
  pid_t engine = RunOneEngine();
  // The engine's environment (the agent's, plus CUDA_VISIBLE_DEVICES) no longer holds the key.
  const std::string environ = ReadFile(absl::StrCat("/proc/", engine, "/environ"));
  EXPECT_THAT(environ, HasSubstr("CUDA_VISIBLE_DEVICES="));
  EXPECT_THAT(environ, Not(HasSubstr("DI_NODE_KEY=")));
  EXPECT_THAT(environ, Not(HasSubstr("dik_env-node-secret")));
  EXPECT_THAT(ReadFile(dir_ + "/agent.log"), Not(HasSubstr("dik_env-node-secret")));
}

TEST_F(NodeAgentProcessTest, MissingNodeKeyFileFailsAtStartNamingTheFlag) {
  pid_t agent = StartNodeAgent({"--node-key-file=" + dir_ + "/missing.key"});
  int status = WaitExit(agent, absl::Seconds(5));
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(ReadFile(dir_ + "/agent.log"), HasSubstr("--node-key-file " + dir_ + "/missing.key: cannot read it"));
  EXPECT_TRUE(controlplane_->service().authorizations().empty());
}

TEST_F(NodeAgentProcessTest, RefusedCredentialIsLoggedAsSuchAndRetried) {
  const std::string key_file = dir_ + "/node.key";
  std::ofstream(key_file) << "dik_stale-node-secret\n";
  controlplane_->service().RequireCredential("dik_current");
  StartNodeAgent({"--node-key-file=" + key_file});
  ASSERT_TRUE(WaitUntil([&] { return controlplane_->service().authorizations()["Register"].size() >= 2; }))
      << ReadFile(dir_ + "/agent.log");
  std::string log;
  ASSERT_TRUE(WaitUntil([&] {
    log = ReadFile(dir_ + "/agent.log");
    return log.find("controlplane refused the node credential: register failed; retrying") != std::string::npos;
  })) << log;
  EXPECT_THAT(log, Not(HasSubstr("dik_stale-node-secret")));
}

TEST_F(NodeAgentProcessTest, NoCredentialIsAWarningAtStart) {
  StartNodeAgent();
  ASSERT_TRUE(WaitUntil([&] { return controlplane_->service().heartbeat_count() >= 1; }));
  EXPECT_THAT(ReadFile(dir_ + "/agent.log"), HasSubstr("no node credential"));
}

}  // namespace
}  // namespace dedicated::node_agent
