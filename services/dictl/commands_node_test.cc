// dictl node list|get|drain|undrain against the in-process fake controlplane.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "services/dictl/args.h"
#include "services/dictl/command_test_base.h"
#include "services/dictl/exit_codes.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr int64_t kRegisteredAt = 1762732800;  // 2025-11-10T00:00:00Z
constexpr int64_t kHeartbeatAt = 1762736400;   // 2025-11-10T01:00:00Z

v1::Node MakeNode(const std::string& id, const std::string& name, v1::Node::State state, int64_t gpus, int64_t used,
                  int64_t replicas) {
  v1::Node node;
  node.set_id(id);
  node.set_name(name);
  node.set_state(state);
  node.set_gpu_type("H100-80GB");
  node.set_gpu_count(gpus);
  node.set_gpu_memory_bytes(int64_t{80} << 30);
  node.set_gpus_used(used);
  node.set_gpus_free(gpus - used);
  node.set_replica_count(replicas);
  node.set_address("10.0.0.7");
  node.set_engine_kind("vllm");
  node.set_agent_version("0.3.1");
  node.mutable_registered_at()->set_seconds(kRegisteredAt);
  node.mutable_last_heartbeat_at()->set_seconds(kHeartbeatAt);
  return node;
}

class NodeCommandsTest : public CommandTestBase {
 protected:
  void SetUp() override {
    CommandTestBase::SetUp();
    // Ids out of name order: the list is by name.
    fake_.AddNode(MakeNode("dnd-3", "gpu-a", v1::Node::READY, 8, 6, 3));
    fake_.AddNode(MakeNode("dnd-1", "gpu-b", v1::Node::DRAINING, 8, 2, 1));
    fake_.AddNode(MakeNode("dnd-2", "gpu-c", v1::Node::DOWN, 4, 0, 0));
  }
};

TEST_F(NodeCommandsTest, ListShowsUsedAndFreeGpusPerNode) {
  Result r = Run({"node", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto lists = fake_.Requests<v1::ListNodesRequest>("NodeAdminService.List");
  ASSERT_THAT(lists, SizeIs(1));
  EXPECT_EQ(lists[0].request.page_size(), 0);
  EXPECT_EQ(lists[0].request.page_token(), "");
  EXPECT_EQ(lists[0].idempotency_key, "");
  EXPECT_EQ(lists[0].authorization, std::string("Api-Key ") + kTestApiKey);
  EXPECT_EQ(r.out,
            "NAME   ID     STATE     GPU TYPE   GPUS  FREE  REPLICAS  LAST HEARTBEAT\n"
            "gpu-a  dnd-3  READY     H100-80GB  6/8   2     3         2025-11-10T01:00:00Z\n"
            "gpu-b  dnd-1  DRAINING  H100-80GB  2/8   6     1         2025-11-10T01:00:00Z\n"
            "gpu-c  dnd-2  DOWN      H100-80GB  0/4   4     0         2025-11-10T01:00:00Z\n");
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(NodeCommandsTest, ListJsonIsTheWholeResponse) {
  Result r = Run({"node", "list", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::ListNodesResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &response).ok()) << r.out;
  ASSERT_EQ(response.nodes_size(), 3);
  EXPECT_EQ(response.nodes(0).id(), "dnd-3");
  EXPECT_EQ(response.nodes(0).gpus_used(), 6);
  EXPECT_EQ(response.nodes(0).gpus_free(), 2);
  EXPECT_EQ(response.nodes(1).state(), v1::Node::DRAINING);
  EXPECT_EQ(response.next_page_token(), "");
  // Proto field names, int64 as strings, enums by name.
  EXPECT_THAT(r.out, HasSubstr("\"gpus_free\": \"2\""));
  EXPECT_THAT(r.out, HasSubstr("\"state\": \"DRAINING\""));
  EXPECT_THAT(r.out, HasSubstr("\"next_page_token\": \"\""));
}

TEST_F(NodeCommandsTest, ListFollowsPagesOrPrintsTheOneAskedFor) {
  fake_.SetDefaultPageSize(2);
  Result r = Run({"node", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto lists = fake_.Requests<v1::ListNodesRequest>("NodeAdminService.List");
  ASSERT_THAT(lists, SizeIs(2));
  EXPECT_EQ(lists[1].request.page_token(), "offset-2");
  EXPECT_THAT(r.out, HasSubstr("gpu-a"));
  EXPECT_THAT(r.out, HasSubstr("gpu-c"));
  EXPECT_THAT(r.err, IsEmpty());

  r = Run({"node", "list", "--page-size", "1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  lists = fake_.Requests<v1::ListNodesRequest>("NodeAdminService.List");
  ASSERT_THAT(lists, SizeIs(3));
  EXPECT_EQ(lists[2].request.page_size(), 1);
  EXPECT_THAT(r.out, HasSubstr("gpu-a"));
  EXPECT_THAT(r.out, Not(HasSubstr("gpu-b")));
  EXPECT_EQ(r.err, "More results: add --page-token offset-1\n");

  r = Run({"node", "list", "--page-size", "1", "--page-token", "offset-2", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  lists = fake_.Requests<v1::ListNodesRequest>("NodeAdminService.List");
  ASSERT_THAT(lists, SizeIs(4));
  EXPECT_EQ(lists[3].request.page_token(), "offset-2");
  v1::ListNodesResponse page;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &page).ok()) << r.out;
  ASSERT_EQ(page.nodes_size(), 1);
  EXPECT_EQ(page.nodes(0).name(), "gpu-c");
  EXPECT_EQ(page.next_page_token(), "");
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(NodeCommandsTest, GetShowsEveryField) {
  v1::Node node = MakeNode("dnd-9", "gpu-z", v1::Node::READY, 8, 3, 2);
  (*node.mutable_labels())["zone"] = "a";
  (*node.mutable_labels())["rack"] = "r7";
  fake_.AddNode(node);

  Result r = Run({"node", "get", "dnd-9"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto gets = fake_.Requests<v1::GetNodeRequest>("NodeAdminService.Get");
  ASSERT_THAT(gets, SizeIs(1));
  EXPECT_EQ(gets[0].request.node_id(), "dnd-9");
  EXPECT_EQ(gets[0].idempotency_key, "");
  EXPECT_EQ(r.out,
            "ID              dnd-9\n"
            "NAME            gpu-z\n"
            "STATE           READY\n"
            "GPU TYPE        H100-80GB\n"
            "GPUS            8\n"
            "GPU MEMORY      80 GiB\n"
            "GPUS USED       3\n"
            "GPUS FREE       5\n"
            "REPLICAS        2\n"
            "LABELS          rack=r7,zone=a\n"
            "ADDRESS         10.0.0.7\n"
            "ENGINE          vllm\n"
            "AGENT VERSION   0.3.1\n"
            "REGISTERED      2025-11-10T00:00:00Z\n"
            "LAST HEARTBEAT  2025-11-10T01:00:00Z\n");
  EXPECT_THAT(r.err, IsEmpty());

  r = Run({"node", "get", "dnd-9", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::Node printed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &printed).ok()) << r.out;
  // Equals, not serialized bytes: map entries serialize in no fixed order.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(printed, node)) << r.out;
}

TEST_F(NodeCommandsTest, UnknownNodeIsNotFoundForEveryVerb) {
  for (const char* verb : {"get", "drain", "undrain"}) {
    Result r = Run({"node", verb, "dnd-404"});
    EXPECT_EQ(r.code, kExitFailure) << verb;
    EXPECT_EQ(r.err, "error: NOT_FOUND: node dnd-404 not found\n") << verb;
    EXPECT_THAT(r.out, IsEmpty()) << verb;
  }
}

TEST_F(NodeCommandsTest, DrainSendsTheIdWithAKeyAndPrintsTheDrainingNode) {
  Result r = Run({"node", "drain", "dnd-3"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto drains = fake_.Requests<v1::DrainNodeRequest>("NodeAdminService.Drain");
  ASSERT_THAT(drains, SizeIs(1));
  EXPECT_EQ(drains[0].request.node_id(), "dnd-3");
  EXPECT_TRUE(IsUuid(drains[0].idempotency_key)) << drains[0].idempotency_key;
  EXPECT_THAT(r.out, ContainsRegex("ID +dnd-3\n"));
  EXPECT_THAT(r.out, ContainsRegex("STATE +DRAINING\n"));
  // Its replicas keep running: still 6 GPUs used.
  EXPECT_THAT(r.out, ContainsRegex("GPUS USED +6\n"));
  // Done at once: nothing to follow, no progress line.
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(fake_.Requests<v1::GetOperationRequest>("OperationService.Get"), IsEmpty());
  EXPECT_EQ(fake_.node("dnd-3")->state(), v1::Node::DRAINING);

  r = Run({"node", "undrain", "dnd-3"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto undrains = fake_.Requests<v1::UndrainNodeRequest>("NodeAdminService.Undrain");
  ASSERT_THAT(undrains, SizeIs(1));
  EXPECT_EQ(undrains[0].request.node_id(), "dnd-3");
  EXPECT_TRUE(IsUuid(undrains[0].idempotency_key)) << undrains[0].idempotency_key;
  // Each invocation has its own key.
  EXPECT_NE(undrains[0].idempotency_key, drains[0].idempotency_key);
  EXPECT_THAT(r.out, ContainsRegex("STATE +READY\n"));
  EXPECT_EQ(fake_.node("dnd-3")->state(), v1::Node::READY);
}

TEST_F(NodeCommandsTest, DrainJsonIsTheOperationWithTheNodeAsResponse) {
  Result r = Run({"node", "drain", "dnd-3", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::Operation operation;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &operation).ok()) << r.out;
  EXPECT_TRUE(operation.done());
  v1::DrainNodeMetadata metadata;
  ASSERT_TRUE(operation.metadata().UnpackTo(&metadata));
  EXPECT_EQ(metadata.node_id(), "dnd-3");
  v1::Node node;
  ASSERT_TRUE(operation.response().UnpackTo(&node));
  EXPECT_EQ(node.state(), v1::Node::DRAINING);
  EXPECT_THAT(r.out, HasSubstr("\"@type\": \"type.googleapis.com/dedicated.v1.DrainNodeMetadata\""));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(NodeCommandsTest, DrainWaitsForAnOperationThatIsNotDoneYet) {
  fake_.SetResourceOperationsPending(true);
  Result r = Run({"node", "drain", "dnd-3"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.Requests<v1::GetOperationRequest>("OperationService.Get"), SizeIs(1));
  EXPECT_THAT(r.err, HasSubstr("Operation op-1 done after"));
  EXPECT_THAT(r.out, ContainsRegex("STATE +DRAINING\n"));
}

TEST_F(NodeCommandsTest, DrainOfADownNodeKeepsItDown) {
  Result r = Run({"node", "drain", "dnd-2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("STATE +DOWN\n"));
}

TEST_F(NodeCommandsTest, MissingOrExtraArgumentsAreUsageErrorsAndNothingIsSent) {
  for (const char* verb : {"get", "drain", "undrain"}) {
    Result r = Run({"node", verb});
    EXPECT_EQ(r.code, kExitUsage) << verb;
    EXPECT_THAT(r.err, HasSubstr("NODE_ID")) << verb;
    EXPECT_EQ(Run({"node", verb, "dnd-1", "dnd-2"}).code, kExitUsage) << verb;
  }
  EXPECT_EQ(Run({"node", "list", "extra"}).code, kExitUsage);
  EXPECT_EQ(Run({"node", "list", "--page-size", "-1"}).code, kExitUsage);
  EXPECT_EQ(Run({"node", "list", "--folder", "f"}).code, kExitUsage);
  EXPECT_EQ(Run({"node", "cordon", "dnd-1"}).code, kExitUsage);
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(NodeCommandsTest, HelpSaysWhatDrainingDoes) {
  Result r = Run({"node", "drain", "--help"});
  ASSERT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("no new replicas are placed on it"));
  EXPECT_THAT(r.out, HasSubstr("the replicas it runs keep"));
  r = Run({"node", "--help"});
  ASSERT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("installation admins"));
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST(NodeOutput, GpuMemoryInGibWhenWhole) {
  EXPECT_EQ(FormatGpuMemory(int64_t{80} << 30), "80 GiB");
  EXPECT_EQ(FormatGpuMemory(1000), "1000 bytes");
  EXPECT_EQ(FormatGpuMemory(0), "");
  EXPECT_EQ(NodeStateName(static_cast<v1::Node::State>(42)), "STATE_42");
}

}  // namespace
}  // namespace dedicated::dictl
