// The node-agent executable end to end against the in-process fake controlplane: flags, signals, the
// metrics endpoint, and that a killed agent leaves no engine behind.

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/node_agent/fake_node_service.h"
#include "services/node_agent/process_launcher.h"
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
    return engine;
  }

  std::string dir_;
  int metrics_port_ = 0;
  std::unique_ptr<FakeControlplane> controlplane_ = std::make_unique<FakeControlplane>();
  pid_t agent_pid_ = 0;
};

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
  EXPECT_THAT(body, HasSubstr("node_agent_gpus_total 2"));
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
  for (const char* needle : {"--controlplane", "DI_CONTROLPLANE_ENDPOINT", "--port-range", "DI_NODE_PORT_RANGE",
                             "--engine-sim", "DI_ENGINE_SIM_PATH", "--readiness-timeout", "--stop-grace",
                             "--node-key-file", "DI_NODE_KEY_FILE", "DI_NODE_KEY"}) {
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
