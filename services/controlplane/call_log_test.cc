#include "services/controlplane/call_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dedicated/v1/instance_service.pb.h"
#include "dedicated/v1/node_service.pb.h"
#include "dedicated/v1/operation_service.pb.h"
#include "dedicated/v1/resource_service.pb.h"
#include "services/common/log.h"

namespace dedicated::controlplane {
namespace {

using ::testing::HasSubstr;

// What reached stderr since CaptureStderr(), the lines still in the log's batch included.
std::string CapturedLog() {
  FlushLogs();
  return testing::internal::GetCapturedStderr();
}

// The one line LogCall writes, parsed.
nlohmann::json CaptureLine(const CallRecord& call, const absl::Status& status) {
  testing::internal::CaptureStderr();
  LogCall(call, status, absl::Milliseconds(12.5));
  std::string out = CapturedLog();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  return nlohmann::json::parse(out);
}

class CallLogTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ConfigureLogging("controlplane", "info")); }
  void TearDown() override { ConfigureLogging("", "info"); }
};

TEST_F(CallLogTest, UserCallsLogAtInfoAgentTrafficAtDebugUnlessItFails) {
  EXPECT_EQ(CallLogLevel("InstanceService.Create", absl::StatusCode::kOk), LogLevel::kInfo);
  EXPECT_EQ(CallLogLevel("InstanceService.Get", absl::StatusCode::kNotFound), LogLevel::kInfo);
  EXPECT_EQ(CallLogLevel("InstanceService.Create", absl::StatusCode::kInternal), LogLevel::kError);
  EXPECT_EQ(CallLogLevel("NodeService.Heartbeat", absl::StatusCode::kOk), LogLevel::kDebug);
  EXPECT_EQ(CallLogLevel("NodeService.ReportReplicaStatus", absl::StatusCode::kOk), LogLevel::kDebug);
  EXPECT_EQ(CallLogLevel("RouteService.Watch", absl::StatusCode::kOk), LogLevel::kDebug);
  EXPECT_EQ(CallLogLevel("NodeService.Heartbeat", absl::StatusCode::kUnauthenticated), LogLevel::kInfo);
  // Registration happens once per agent start: worth a line at info.
  EXPECT_EQ(CallLogLevel("NodeService.Register", absl::StatusCode::kOk), LogLevel::kInfo);
}

TEST_F(CallLogTest, LineCarriesMethodCodeDurationRequestIdAccountAndIds) {
  CallRecord call{.method = "InstanceService.Stop",
                  .request_id = "req-42",
                  .account_id = "aje-alice",
                  .account_type = "userAccount",
                  .instance_id = "din-1",
                  .operation_id = "dop-1"};
  nlohmann::json line = CaptureLine(call, absl::OkStatus());
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["component"], "controlplane");
  EXPECT_EQ(line["msg"], "rpc");
  EXPECT_EQ(line["method"], "InstanceService.Stop");
  EXPECT_EQ(line["code"], "OK");
  EXPECT_EQ(line["duration_ms"], "12.500");
  EXPECT_EQ(line["request_id"], "req-42");
  EXPECT_EQ(line["account_id"], "aje-alice");
  EXPECT_EQ(line["account_type"], "userAccount");
  EXPECT_EQ(line["instance_id"], "din-1");
  EXPECT_EQ(line["operation_id"], "dop-1");
  EXPECT_FALSE(line.contains("node_id")) << "absent ids are left out, not written empty";
  EXPECT_FALSE(line.contains("error"));
}

TEST_F(CallLogTest, FailedCallCarriesTheErrorAndCutsOverlongClientInput) {
  CallRecord call{.method = "InstanceService.Get", .request_id = "r", .instance_id = std::string(5000, 'x')};
  nlohmann::json line = CaptureLine(call, absl::NotFoundError("instance xxx not found"));
  EXPECT_EQ(line["code"], "NOT_FOUND");
  EXPECT_EQ(line["error"], "instance xxx not found");
  EXPECT_EQ(line["instance_id"].get<std::string>().size(), 128u);
  EXPECT_FALSE(line.contains("account_id")) << "unauthenticated calls have no account";
}

TEST_F(CallLogTest, SuccessfulHeartbeatIsSilentAtInfoAndShownAtDebug) {
  CallRecord call{.method = "NodeService.Heartbeat", .request_id = "r", .node_id = "dnd-1"};
  testing::internal::CaptureStderr();
  LogCall(call, absl::OkStatus(), absl::Milliseconds(1));
  EXPECT_EQ(CapturedLog(), "");
  ASSERT_TRUE(ConfigureLogging("controlplane", "debug"));
  testing::internal::CaptureStderr();
  LogCall(call, absl::OkStatus(), absl::Milliseconds(1));
  std::string out = CapturedLog();
  EXPECT_THAT(out, HasSubstr(R"("level":"debug")"));
  EXPECT_THAT(out, HasSubstr(R"("node_id":"dnd-1")"));
}

TEST(CallIdsTest, InstanceIdComesFromTheOperationMetadata) {
  v1::Operation op;
  op.set_id("dop-7");
  v1::CreateInstanceMetadata metadata;
  metadata.set_instance_id("din-7");
  op.mutable_metadata()->PackFrom(metadata);
  EXPECT_EQ(InstanceIdOfOperation(op), "din-7");

  v1::SetFolderQuotaMetadata quota;
  quota.set_folder_id("folder-1");
  op.mutable_metadata()->PackFrom(quota);
  EXPECT_EQ(InstanceIdOfOperation(op), "") << "metadata without an instance_id field";
  EXPECT_EQ(InstanceIdOfOperation(v1::Operation()), "");
}

TEST(CallIdsTest, NotesIdsOfRequestAndResponse) {
  v1::CreateInstanceRequest create;
  v1::Operation op;
  op.set_id("dop-1");
  v1::CreateInstanceMetadata metadata;
  metadata.set_instance_id("din-1");
  op.mutable_metadata()->PackFrom(metadata);
  CallRecord call;
  NoteCallIds(create, &op, call);
  EXPECT_EQ(call.operation_id, "dop-1");
  EXPECT_EQ(call.instance_id, "din-1");

  // A failed call has no response: only what the request named.
  v1::GetOperationRequest get_op;
  get_op.set_operation_id("dop-2");
  CallRecord failed;
  NoteCallIds<v1::GetOperationRequest, v1::Operation>(get_op, nullptr, failed);
  EXPECT_EQ(failed.operation_id, "dop-2");
  EXPECT_EQ(failed.instance_id, "");

  v1::HeartbeatRequest heartbeat;
  heartbeat.set_node_id("dnd-3");
  v1::HeartbeatResponse heartbeat_response;
  CallRecord node_call;
  NoteCallIds(heartbeat, &heartbeat_response, node_call);
  EXPECT_EQ(node_call.node_id, "dnd-3");
}

}  // namespace
}  // namespace dedicated::controlplane
