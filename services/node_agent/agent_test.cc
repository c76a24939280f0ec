#include "services/node_agent/agent.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/node_agent/fake_node_service.h"
#include "services/node_agent/readiness_probe.h"
#include "services/node_agent/test_util.h"

namespace dedicated::node_agent {
namespace {

using ::dedicated::v1::ReplicaAssignment;
using ::dedicated::v1::ReplicaStatus;
using ::testing::Each;
using ::testing::ElementsAre;
using testing::FakeControlplane;
using testing::FakeEngineCommand;
using ::testing::Pair;
using testing::ProcessAlive;
using testing::Replica;
using ::testing::UnorderedElementsAre;
using testing::WaitUntil;

// The latest heartbeat's state of a replica, or STATE_UNSPECIFIED if absent.
ReplicaStatus::State HeartbeatState(const testing::FakeNodeService& service, const std::string& replica_id) {
  std::vector<dedicated::v1::HeartbeatRequest> heartbeats = service.heartbeats();
  if (heartbeats.empty()) return ReplicaStatus::STATE_UNSPECIFIED;
  for (const ReplicaStatus& s : heartbeats.back().replicas()) {
    if (s.replica_id() == replica_id) return s.state();
  }
  return ReplicaStatus::STATE_UNSPECIFIED;
}

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : registry_(std::make_shared<prometheus::Registry>()), metrics_(*registry_, 4) {}

  void SetUp() override {
    controlplane_ = std::make_unique<FakeControlplane>();
    options_.name = "gpu-node-7";
    options_.gpu_type = "H100-80GB";
    options_.gpu_count = 4;
    options_.gpu_memory_bytes = 80LL << 30;
    options_.labels = {{"zone", "ru-central1-a"}, {"rack", "12"}};
    options_.address = "127.0.0.1";
    options_.engine_kind = "test";
    options_.rpc_timeout = absl::Milliseconds(500);
    options_.backoff_initial = absl::Milliseconds(20);
    options_.backoff_max = absl::Milliseconds(200);
    options_.shutdown_report_timeout = absl::Seconds(2);
    supervisor_options_.engine_kind = "test";
    supervisor_options_.host = "127.0.0.1";
    supervisor_options_.log_dir = testing::NewTempDir("agent");
    supervisor_options_.gpu_count = 4;
    supervisor_options_.probe_interval = absl::Milliseconds(20);
    supervisor_options_.stop_grace = absl::Seconds(2);
  }

  void TearDown() override {
    if (agent_ != nullptr) agent_->Shutdown();
    agent_.reset();
    controlplane_.reset();
  }

  Agent& StartAgent(const std::string& target = "") {
    agent_ = std::make_unique<Agent>(options_, supervisor_options_,
                                     MakeControlplaneChannel(target.empty() ? controlplane_->address() : target),
                                     &launcher_, &ports_, &metrics_);
    agent_->Start();
    return *agent_;
  }

  testing::FakeNodeService& Service() { return controlplane_->service(); }

  std::shared_ptr<prometheus::Registry> registry_;
  Metrics metrics_;
  AgentOptions options_;
  SupervisorOptions supervisor_options_;
  testing::RecordingLauncher launcher_;
  PortAllocator ports_{"127.0.0.1", {20000, 29999}};
  std::unique_ptr<FakeControlplane> controlplane_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentTest, RegistersInventoryThenHeartbeats) {
  Agent& agent = StartAgent();
  ASSERT_TRUE(WaitUntil([&] { return Service().heartbeat_count() >= 3; }, absl::Seconds(5)));
  std::vector<dedicated::v1::RegisterNodeRequest> registers = Service().registers();
  ASSERT_EQ(registers.size(), 1u);
  const auto& r = registers[0];
  EXPECT_EQ(r.name(), "gpu-node-7");
  EXPECT_EQ(r.gpu_type(), "H100-80GB");
  EXPECT_EQ(r.gpu_count(), 4);
  EXPECT_EQ(r.gpu_memory_bytes(), 80LL << 30);
  EXPECT_THAT(r.labels(), UnorderedElementsAre(Pair("zone", "ru-central1-a"), Pair("rack", "12")));
  EXPECT_EQ(r.agent_version(), kAgentVersion);
  EXPECT_EQ(r.address(), "127.0.0.1");
  EXPECT_EQ(r.engine_kind(), "test");
  EXPECT_EQ(agent.node_id(), "node-1");
  EXPECT_EQ(Service().heartbeats().back().node_id(), "node-1");
  EXPECT_THAT(Service().watched_node_ids(), ElementsAre("node-1"));
}

TEST_F(AgentTest, RunsAssignedReplicaAndStopsItWhenUnassigned) {
  Agent& agent = StartAgent();
  Service().SetAssignments({Replica("r1", {2, 3}, {FakeEngineCommand({"--ready-after-ms", "200"})})});

  ReplicaStatus ready;
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::READY, absl::Seconds(10), &ready));
  EXPECT_THAT(Service().reports().States("r1"), ElementsAre(ReplicaStatus::STARTING, ReplicaStatus::READY));
  const std::string endpoint = ready.endpoint();
  ASSERT_EQ(endpoint.rfind("127.0.0.1:", 0), 0u) << endpoint;
  const int port = std::stoi(endpoint.substr(endpoint.find(':') + 1));
  EXPECT_EQ(HttpGetStatus("127.0.0.1", port, "/health", absl::Seconds(2)).value_or(0), 200);
  // Heartbeats repeat the state.
  ASSERT_TRUE(WaitUntil([&] { return HeartbeatState(Service(), "r1") == ReplicaStatus::READY; }));
  pid_t pid = agent.supervisor().PidOf("r1").value_or(0);
  ASSERT_TRUE(ProcessAlive(pid));

  Service().SetAssignments({});
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::STOPPED));
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_NE(HttpGetStatus("127.0.0.1", port, "/health", absl::Milliseconds(500)).value_or(0), 200);
  // Reported STOPPED in a heartbeat, then forgotten: later heartbeats no longer mention it.
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<dedicated::v1::HeartbeatRequest> hbs = Service().heartbeats();
    return !hbs.empty() && hbs.back().replicas_size() == 0;
  }));
  EXPECT_EQ(metrics_.engine_starts(), 1);
}

TEST_F(AgentTest, ReportsFailedEngineAndDoesNotRestartIt) {
  StartAgent();
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand({"--crash-after-ms", "300", "--exit-code", "7"})})});
  ReplicaStatus failed;
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::FAILED, absl::Seconds(10), &failed));
  EXPECT_THAT(failed.message(), ::testing::HasSubstr("exit code 7"));
  ASSERT_TRUE(WaitUntil([&] { return HeartbeatState(Service(), "r1") == ReplicaStatus::FAILED; }));
  // A few more heartbeats and snapshots later it is still FAILED and was launched once.
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()})});
  const int64_t seen = Service().heartbeat_count();
  ASSERT_TRUE(WaitUntil([&] { return Service().heartbeat_count() >= seen + 3; }));
  EXPECT_EQ(HeartbeatState(Service(), "r1"), ReplicaStatus::FAILED);
  EXPECT_EQ(launcher_.specs().size(), 1u);
}

TEST_F(AgentTest, RegistersAgainWhenHeartbeatSaysNodeIsUnknown) {
  Agent& agent = StartAgent();
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()})});
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::READY));
  pid_t pid = agent.supervisor().PidOf("r1").value_or(0);

  Service().ForgetNodes();
  ASSERT_TRUE(WaitUntil([&] { return Service().registers().size() == 2; }));
  ASSERT_TRUE(WaitUntil([&] { return agent.node_id() == "node-2"; }));
  // The stream reopens for the new id and heartbeats carry it, with the engine still READY.
  ASSERT_TRUE(WaitUntil([&] { return Service().watched_node_ids().size() >= 2; }));
  EXPECT_EQ(Service().watched_node_ids().back(), "node-2");
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<dedicated::v1::HeartbeatRequest> hbs = Service().heartbeats();
    return !hbs.empty() && hbs.back().node_id() == "node-2" && HeartbeatState(Service(), "r1") == ReplicaStatus::READY;
  }));
  EXPECT_EQ(agent.supervisor().PidOf("r1").value_or(0), pid);
  EXPECT_EQ(launcher_.specs().size(), 1u);
}

TEST_F(AgentTest, ReconnectsBrokenStreamAndKeepsEnginesRunning) {
  Agent& agent = StartAgent();
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()})});
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::READY));
  pid_t pid = agent.supervisor().PidOf("r1").value_or(0);
  ASSERT_EQ(Service().watch_calls(), 1);

  Service().BreakStreams();
  ASSERT_TRUE(WaitUntil([&] { return Service().watch_calls() >= 2 && Service().open_streams() == 1; }));
  // The same snapshot arrives again on the new stream: nothing restarts, nothing stops.
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()})});
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(ProcessAlive(pid));
  EXPECT_EQ(agent.supervisor().PidOf("r1").value_or(0), pid);
  EXPECT_EQ(launcher_.specs().size(), 1u);
  EXPECT_FALSE(Service().reports().Find("r1", ReplicaStatus::STOPPED));
  EXPECT_EQ(Service().registers().size(), 1u);
}

TEST_F(AgentTest, KeepsEnginesRunningWhileControlplaneIsDownThenResyncs) {
  Agent& agent = StartAgent();
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()})});
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::READY));
  pid_t pid = agent.supervisor().PidOf("r1").value_or(0);
  const int port = controlplane_->port();

  controlplane_->Shutdown();
  ASSERT_TRUE(WaitUntil([&] { return metrics_.heartbeat_failures() >= 3; }));
  EXPECT_TRUE(ProcessAlive(pid));
  EXPECT_EQ(agent.supervisor().StatusOf("r1")->state(), ReplicaStatus::READY);

  // A fresh controlplane on the same address that knows nothing: the agent registers anew, follows the
  // snapshot, and the running engine is kept.
  controlplane_ = std::make_unique<FakeControlplane>(port);
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()})});
  ASSERT_TRUE(WaitUntil([&] { return HeartbeatState(Service(), "r1") == ReplicaStatus::READY; }));
  EXPECT_EQ(Service().registers().size(), 1u);
  EXPECT_EQ(agent.supervisor().PidOf("r1").value_or(0), pid);
  EXPECT_EQ(launcher_.specs().size(), 1u);
}

TEST_F(AgentTest, RetriesRegistrationUntilControlplaneAppears) {
  // Reserve a port, then leave it free for the controlplane that starts later.
  const int port = controlplane_->port();
  controlplane_->Shutdown();
  controlplane_.reset();
  StartAgent(absl::StrCat("127.0.0.1:", port));
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_TRUE(agent_->node_id().empty());
  controlplane_ = std::make_unique<FakeControlplane>(port);
  ASSERT_TRUE(WaitUntil([&] { return !agent_->node_id().empty(); }, absl::Seconds(5)));
  EXPECT_EQ(Service().registers().size(), 1u);
}

TEST_F(AgentTest, ShutdownStopsEnginesAndReportsStopped) {
  Agent& agent = StartAgent();
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()}), Replica("r2", {1}, {FakeEngineCommand()})});
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::READY));
  ASSERT_TRUE(Service().reports().WaitFor("r2", ReplicaStatus::READY));
  pid_t p1 = agent.supervisor().PidOf("r1").value_or(0);
  pid_t p2 = agent.supervisor().PidOf("r2").value_or(0);
  agent.Shutdown();
  EXPECT_FALSE(ProcessAlive(p1));
  EXPECT_FALSE(ProcessAlive(p2));
  EXPECT_TRUE(Service().reports().Find("r1", ReplicaStatus::STOPPED));
  EXPECT_TRUE(Service().reports().Find("r2", ReplicaStatus::STOPPED));
}

TEST_F(AgentTest, EveryCallCarriesTheNodeCredential) {
  options_.credential = "dik_node-secret";
  options_.credential_source = "--node-key-file /etc/di/node.key";
  Service().RequireCredential("dik_node-secret");
  StartAgent();
  // READY reported means Register, the stream and a report all went through; then a few heartbeats.
  Service().SetAssignments({Replica("r1", {0}, {FakeEngineCommand()})});
  ASSERT_TRUE(Service().reports().WaitFor("r1", ReplicaStatus::READY));
  ASSERT_TRUE(WaitUntil([&] { return Service().heartbeat_count() >= 2; }));
  std::map<std::string, std::vector<std::string>> authorizations = Service().authorizations();
  for (const char* method : {"Register", "Heartbeat", "WatchAssignments", "ReportReplicaStatus"}) {
    EXPECT_THAT(authorizations[method], ::testing::Not(::testing::IsEmpty())) << method;
    EXPECT_THAT(authorizations[method], Each(std::string("Api-Key dik_node-secret"))) << method;
  }
}

TEST_F(AgentTest, WithoutACredentialCallsCarryNoHeader) {
  StartAgent();
  ASSERT_TRUE(WaitUntil([&] { return Service().heartbeat_count() >= 1; }));
  std::map<std::string, std::vector<std::string>> authorizations = Service().authorizations();
  EXPECT_THAT(authorizations["Register"], ElementsAre(""));
  EXPECT_THAT(authorizations["Heartbeat"], Each(std::string("")));
}

TEST_F(AgentTest, RefusedCredentialIsRetriedWithBackoffUntilAccepted) {
  options_.credential = "dik_rotated";
  Service().RequireCredential("dik_expected");
  StartAgent();
  // Refused Registers are repeated (backoff 20 ms doubling to 200 ms here), and nothing else is tried.
  ASSERT_TRUE(WaitUntil([&] { return Service().authorizations()["Register"].size() >= 3; }));
  EXPECT_TRUE(agent_->node_id().empty());
  EXPECT_EQ(Service().heartbeat_count(), 0);
  // Once the controlplane accepts the credential, the agent registers without a restart.
  Service().RequireCredential("dik_rotated");
  ASSERT_TRUE(WaitUntil([&] { return !agent_->node_id().empty(); }));
  ASSERT_TRUE(WaitUntil([&] { return Service().heartbeat_count() >= 1; }));
}

TEST(ParseLabelsTest, ParsesPairsAndRefusesMalformedOnes) {
  absl::StatusOr<std::map<std::string, std::string>> labels = ParseLabels("zone=a, rack = 12,empty=");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, UnorderedElementsAre(Pair("zone", "a"), Pair("rack", "12"), Pair("empty", "")));
  EXPECT_TRUE(ParseLabels("").value().empty());
  EXPECT_EQ(ParseLabels("novalue").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseLabels("=x").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dedicated::node_agent
