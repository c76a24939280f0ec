// The commands against an in-process fake controlplane through the real generated client.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "services/dictl/args.h"
#include "services/dictl/cli.h"
#include "services/dictl/command_test_base.h"
#include "services/dictl/exit_codes.h"
#include "services/dictl/fake_controlplane.h"

namespace dedicated::dictl {
namespace {

using ::testing::ContainsRegex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

v1::Instance MakeInstance(const std::string& id, const std::string& name) {
  v1::Instance instance;
  instance.set_id(id);
  instance.set_folder_id("folder-1");
  instance.set_name(name);
  instance.set_model_id("gemma-3-4b-it");
  instance.set_configuration("S");
  instance.set_replica_count(1);
  instance.set_status(v1::Instance::ACTIVE);
  return instance;
}

class CommandsTest : public CommandTestBase {
 protected:
  std::vector<std::string> DeployArgs() {
    return {"instance", "deploy",  "--folder",      "folder-1", "--name",
            "chat",     "--model", "gemma-3-4b-it", "--config", "m"};
  }
};

TEST_F(CommandsTest, DeploySendsTheRequestWithAFreshIdempotencyKey) {
  std::vector<std::string> args = DeployArgs();
  args.insert(args.end(),
              {"--replicas", "2", "--description", "support bot", "--labels", "env=prod,team=ml"});
  Result r = Run(args);
  ASSERT_EQ(r.code, kExitOk) << r.err;

  auto creates = fake_.creates();
  ASSERT_THAT(creates, SizeIs(1));
  const v1::CreateInstanceRequest& request = creates[0].request;
  EXPECT_EQ(request.folder_id(), "folder-1");
  EXPECT_EQ(request.name(), "chat");
  EXPECT_EQ(request.model_id(), "gemma-3-4b-it");
  EXPECT_EQ(request.configuration(), "M");
  EXPECT_EQ(request.replica_count(), 2);
  EXPECT_EQ(request.description(), "support bot");
  EXPECT_THAT(request.labels(), UnorderedElementsAre(Pair("env", "prod"), Pair("team", "ml")));
  EXPECT_TRUE(IsUuid(creates[0].idempotency_key)) << creates[0].idempotency_key;

  // The operation table: operation id, instance id from the metadata, done.
  EXPECT_THAT(r.out, HasSubstr("ID    DESCRIPTION      INSTANCE ID  CREATED               DONE   RESULT\n"
                               "op-2  Create instance  inst-1       2025-11-10T00:00:00Z  false\n"));
  EXPECT_THAT(r.err, HasSubstr("dictl operation wait op-2"));

  // Each invocation is a new request, so a new key.
  ASSERT_EQ(Run(DeployArgs()).code, kExitOk);
  creates = fake_.creates();
  ASSERT_THAT(creates, SizeIs(2));
  EXPECT_NE(creates[0].idempotency_key, creates[1].idempotency_key);
}

TEST_F(CommandsTest, DeployRetriesUnavailableWithTheSameKey) {
  fake_.FailNextCreates(2);
  Result r = Run(DeployArgs());
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto creates = fake_.creates();
  ASSERT_THAT(creates, SizeIs(3));
  EXPECT_FALSE(creates[0].idempotency_key.empty());
  EXPECT_EQ(creates[1].idempotency_key, creates[0].idempotency_key);
  EXPECT_EQ(creates[2].idempotency_key, creates[0].idempotency_key);
  // One request id for the call, on every attempt, so the server's log shows them together.
  auto received = fake_.Requests<v1::CreateInstanceRequest>("InstanceService.Create");
  ASSERT_THAT(received, SizeIs(3));
  EXPECT_FALSE(received[0].request_id.empty());
  EXPECT_EQ(received[1].request_id, received[0].request_id);
  EXPECT_EQ(received[2].request_id, received[0].request_id);
  // Backoff grows between attempts.
  ASSERT_THAT(sleeps_, SizeIs(2));
  EXPECT_GT(sleeps_[1], sleeps_[0]);
}

TEST_F(CommandsTest, ErrorsQuoteTheRequestIdTheServerEchoed) {
  fake_.EchoRequestIds();
  Result r = Run({"instance", "get", "inst-404"});
  EXPECT_EQ(r.code, kExitFailure);
  auto gets = fake_.Requests<v1::GetInstanceRequest>("InstanceService.Get");
  ASSERT_THAT(gets, SizeIs(1));
  ASSERT_FALSE(gets[0].request_id.empty());
  EXPECT_EQ(r.err, "error: NOT_FOUND: instance inst-404 not found\nrequest id: " + gets[0].request_id +
                       " (quote it when you report a problem)\n");
  // Each call gets its own id.
  Run({"instance", "get", "inst-404"});
  gets = fake_.Requests<v1::GetInstanceRequest>("InstanceService.Get");
  ASSERT_THAT(gets, SizeIs(2));
  EXPECT_NE(gets[1].request_id, gets[0].request_id);
}

TEST_F(CommandsTest, DeployGivesUpAfterThreeRetriesAndPrintsTheKeyToRetryWith) {
  fake_.FailNextCreates(100);
  Result r = Run(DeployArgs());
  EXPECT_EQ(r.code, kExitFailure);
  auto creates = fake_.creates();
  ASSERT_THAT(creates, SizeIs(4));
  EXPECT_THAT(r.err, HasSubstr("error: UNAVAILABLE: database is unavailable\n"));
  EXPECT_THAT(r.err, HasSubstr("--idempotency-key " + creates[0].idempotency_key));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST_F(CommandsTest, DeployUsesTheGivenIdempotencyKey) {
  const std::string key = "0f8fad5b-d9cb-469f-a165-70867728950e";
  std::vector<std::string> args = DeployArgs();
  args.insert(args.end(), {"--idempotency-key", key});
  ASSERT_EQ(Run(args).code, kExitOk);
  ASSERT_THAT(fake_.creates(), SizeIs(1));
  EXPECT_EQ(fake_.creates()[0].idempotency_key, key);
}

TEST_F(CommandsTest, DeployWaitPollsUntilDoneAndPrintsTheInstance) {
  fake_.SetOperationOutcome(/*polls=*/3);
  std::vector<std::string> args = DeployArgs();
  args.push_back("--wait");
  Result r = Run(args);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(fake_.operation_polls(), 3);
  EXPECT_THAT(r.out, ContainsRegex("ID +inst-1\n"));
  EXPECT_THAT(r.out, ContainsRegex("STATUS +ACTIVE\n"));
  EXPECT_THAT(r.out, ContainsRegex("MODEL URI +dedicated://folder-1/inst-1\n"));
  // Not a terminal: one line per status, not one per poll.
  EXPECT_THAT(r.err, HasSubstr("Waiting for operation op-2 (create instance inst-1): instance CREATING"));
  EXPECT_THAT(r.err, HasSubstr("Waiting for operation op-2 (create instance inst-1): instance STARTING"));
  EXPECT_THAT(r.err, HasSubstr("Operation op-2 done after"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 3) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("\r")));
}

TEST_F(CommandsTest, DeployWaitExitsOneWithTheServerMessageWhenTheOperationFails) {
  fake_.SetOperationOutcome(/*polls=*/2, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                      "no GPU capacity: 2 x H100-80GB needed, 1 free"));
  std::vector<std::string> args = DeployArgs();
  args.push_back("--wait");
  Result r = Run(args);
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: RESOURCE_EXHAUSTED: no GPU capacity: 2 x H100-80GB needed, 1 free\n"));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST_F(CommandsTest, DeployWaitJsonPrintsOnlyTheInstanceOnStdout) {
  fake_.SetOperationOutcome(/*polls=*/1);
  std::vector<std::string> args = DeployArgs();
  args.insert(args.end(), {"--wait", "--format", "json"});
  Result r = Run(args);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::Instance instance;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &instance).ok()) << r.out;
  EXPECT_EQ(instance.id(), "inst-1");
  EXPECT_EQ(instance.status(), v1::Instance::ACTIVE);
}

TEST_F(CommandsTest, DeployJsonPrintsTheOperationWithMetadata) {
  std::vector<std::string> args = DeployArgs();
  args.insert(args.end(), {"--format", "json"});
  Result r = Run(args);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"@type\": \"type.googleapis.com/dedicated.v1.CreateInstanceMetadata\""));
  EXPECT_THAT(r.out, HasSubstr("\"instance_id\": \"inst-1\""));
  EXPECT_THAT(r.out, HasSubstr("\"done\": false"));
  v1::Operation operation;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &operation).ok()) << r.out;
}

TEST_F(CommandsTest, GetPrintsTheInstanceOrTheServerError) {
  fake_.AddInstance(MakeInstance("inst-9", "chat"));
  Result r = Run({"instance", "get", "inst-9"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("NAME +chat\n"));

  r = Run({"instance", "get", "inst-404"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: instance inst-404 not found\n");
}

TEST_F(CommandsTest, ListFollowsNextPageToken) {
  fake_.SetInstancePages({{MakeInstance("inst-1", "a"), MakeInstance("inst-2", "b")},
                          {MakeInstance("inst-3", "c")},
                          {MakeInstance("inst-4", "d")}});
  Result r = Run(
      {"instance", "list", "--folder", "folder-1", "--filter", "status = \"ACTIVE\"", "--order-by", "name"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto requests = fake_.list_requests();
  ASSERT_THAT(requests, SizeIs(3));
  EXPECT_EQ(requests[0].page_token(), "");
  EXPECT_EQ(requests[1].page_token(), "page-1");
  EXPECT_EQ(requests[2].page_token(), "page-2");
  for (const auto& request : requests) {
    EXPECT_EQ(request.folder_id(), "folder-1");
    EXPECT_EQ(request.filter(), "status = \"ACTIVE\"");
    EXPECT_EQ(request.order_by(), "name");
  }
  EXPECT_EQ(r.out,
            "ID      NAME  MODEL          CONFIG  REPLICAS  STATUS  CREATED\n"
            "inst-1  a     gemma-3-4b-it  S       1         ACTIVE\n"
            "inst-2  b     gemma-3-4b-it  S       1         ACTIVE\n"
            "inst-3  c     gemma-3-4b-it  S       1         ACTIVE\n"
            "inst-4  d     gemma-3-4b-it  S       1         ACTIVE\n");
}

TEST_F(CommandsTest, ListJsonIsTheWholeResponseMergedAcrossPages) {
  fake_.SetInstancePages({{MakeInstance("inst-1", "a")}, {MakeInstance("inst-2", "b")}});
  Result r = Run({"instance", "list", "--folder", "folder-1", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out.substr(0, 17), "{\n \"instances\": [");
  v1::ListInstancesResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &response).ok()) << r.out;
  ASSERT_EQ(response.instances_size(), 2);
  EXPECT_EQ(response.instances(1).id(), "inst-2");
  EXPECT_EQ(response.next_page_token(), "");
}

TEST_F(CommandsTest, ListWithPageSizeFetchesOnePageAndPointsToTheNext) {
  fake_.SetInstancePages({{MakeInstance("inst-1", "a")}, {MakeInstance("inst-2", "b")}});
  Result r = Run({"instance", "list", "--folder", "folder-1", "--page-size", "1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_THAT(fake_.list_requests(), SizeIs(1));
  EXPECT_EQ(fake_.list_requests()[0].page_size(), 1);
  EXPECT_THAT(r.out, Not(HasSubstr("inst-2")));
  EXPECT_THAT(r.err, HasSubstr("--page-token page-1"));

  r = Run({"instance", "list", "--folder", "folder-1", "--page-token", "page-1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("inst-2"));
  EXPECT_THAT(r.out, Not(HasSubstr("inst-1")));
}

TEST_F(CommandsTest, UpdateMaskNamesExactlyTheFlagsGiven) {
  fake_.AddInstance(MakeInstance("inst-1", "chat"));
  ASSERT_EQ(Run({"instance", "update", "inst-1", "--description", "", "--labels", "env=prod"}).code, kExitOk);
  ASSERT_EQ(Run({"instance", "update", "inst-1", "--name", "chat-v2"}).code, kExitOk);
  auto updates = fake_.updates();
  ASSERT_THAT(updates, SizeIs(2));

  const v1::UpdateInstanceRequest& first = updates[0].request;
  EXPECT_EQ(first.instance_id(), "inst-1");
  EXPECT_THAT(first.update_mask().paths(), ElementsAre("description", "labels"));
  EXPECT_EQ(first.description(), "");
  EXPECT_EQ(first.name(), "");
  EXPECT_THAT(first.labels(), ElementsAre(Pair("env", "prod")));
  EXPECT_TRUE(IsUuid(updates[0].idempotency_key));

  const v1::UpdateInstanceRequest& second = updates[1].request;
  EXPECT_THAT(second.update_mask().paths(), ElementsAre("name"));
  EXPECT_EQ(second.name(), "chat-v2");
  EXPECT_TRUE(second.labels().empty());
}

TEST_F(CommandsTest, UpdateOfConfigAndReplicasIsARollingUpdateRequest) {
  fake_.AddInstance(MakeInstance("inst-1", "chat"));
  ASSERT_EQ(Run({"instance", "update", "inst-1", "--config", "m", "--replicas", "3"}).code, kExitOk);
  auto updates = fake_.updates();
  ASSERT_THAT(updates, SizeIs(1));
  EXPECT_THAT(updates[0].request.update_mask().paths(), ElementsAre("configuration", "replica_count"));
  EXPECT_EQ(updates[0].request.configuration(), "M");
  EXPECT_EQ(updates[0].request.replica_count(), 3);
}

TEST_F(CommandsTest, StartStopDeleteSendKeysAndDeleteWaitReportsDeletion) {
  fake_.AddInstance(MakeInstance("inst-1", "chat"));
  ASSERT_EQ(Run({"instance", "stop", "inst-1"}).code, kExitOk);
  ASSERT_EQ(Run({"instance", "start", "inst-1"}).code, kExitOk);
  Result r = Run({"instance", "delete", "inst-1", "--wait"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "Instance inst-1 deleted.\n");
  auto actions = fake_.actions();
  ASSERT_THAT(actions, SizeIs(3));
  EXPECT_EQ(actions[0].request, "stop inst-1");
  EXPECT_EQ(actions[1].request, "start inst-1");
  EXPECT_EQ(actions[2].request, "delete inst-1");
  for (const auto& action : actions) EXPECT_TRUE(IsUuid(action.idempotency_key));

  r = Run({"instance", "delete", "inst-1"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: NOT_FOUND: instance inst-1 not found"));
}

TEST_F(CommandsTest, InstanceOperationsListsTheInstancesOperations) {
  fake_.AddInstance(MakeInstance("inst-1", "chat"));
  fake_.SetOperationOutcome(/*polls=*/0);
  ASSERT_EQ(Run({"instance", "stop", "inst-1"}).code, kExitOk);
  Result r = Run({"instance", "operations", "inst-1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("op-1  stop instance  inst-1"));
  EXPECT_THAT(r.out, HasSubstr("true  ok\n"));
}

TEST_F(CommandsTest, OperationGetWaitAndCancel) {
  v1::Operation running;
  running.set_id("op-77");
  running.set_description("Create instance");
  v1::CreateInstanceMetadata metadata;
  metadata.set_instance_id("inst-5");
  running.mutable_metadata()->PackFrom(metadata);
  fake_.AddOperation(running, "inst-5");

  Result r = Run({"operation", "get", "op-77"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("op-77  Create instance  inst-5"));

  r = Run({"operation", "cancel", "op-77", "--wait"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.cancelled(), ElementsAre("op-77"));
  EXPECT_THAT(r.out, HasSubstr("CANCELLED: cancelled by the user"));

  // Waiting on an operation that failed (here: cancelled) is exit 1 with its error.
  r = Run({"operation", "wait", "op-77"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: CANCELLED: cancelled by the user\n"));

  r = Run({"operation", "get", "op-missing"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: NOT_FOUND: operation op-missing not found"));
}

TEST_F(CommandsTest, OperationWaitPrintsTheInstance) {
  fake_.AddInstance(MakeInstance("inst-1", "chat"));
  fake_.SetOperationOutcome(/*polls=*/2);
  ASSERT_EQ(Run({"instance", "start", "inst-1"}).code, kExitOk);
  Result r = Run({"operation", "wait", "op-1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("STATUS +ACTIVE\n"));
  EXPECT_THAT(r.err, HasSubstr("(start instance inst-1)"));
}

TEST_F(CommandsTest, ModelListAndGet) {
  v1::Model model;
  model.set_id("gemma-3-4b-it");
  model.set_name("Gemma 3 4B it");
  model.set_context_length(131072);
  model.set_license("Gemma Terms of Use");
  for (const char* name : {"S", "M", "L"}) model.add_configurations()->set_name(name);
  fake_.AddModel(model);

  Result r = Run({"model", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("gemma-3-4b-it  Gemma 3 4B it  131072   Gemma Terms of Use  S,M,L    -"));

  r = Run({"model", "get", "gemma-3-4b-it", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::Model parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_EQ(parsed.configurations_size(), 3);

  r = Run({"model", "get", "llama"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: NOT_FOUND: model llama not found"));
}

TEST_F(CommandsTest, EndpointAndFormatComeFromTheEnvironment) {
  fake_.AddInstance(MakeInstance("inst-1", "chat"));
  setenv("DICTL_ENDPOINT", fake_.endpoint().c_str(), 1);
  setenv("DICTL_FORMAT", "json", 1);
  Result r = RunRaw({"instance", "get", "inst-1"});
  unsetenv("DICTL_ENDPOINT");
  unsetenv("DICTL_FORMAT");
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"name\": \"chat\""));
}

TEST_F(CommandsTest, ConnectionRefusedNamesTheEndpointAndTheVariable) {
  // Port 1 on loopback: nothing listens there in a test environment.
  Result r = RunRaw({"instance", "get", "inst-1", "--endpoint", "127.0.0.1:1"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: UNAVAILABLE: cannot reach the controlplane at 127.0.0.1:1"));
  EXPECT_THAT(r.err, HasSubstr("DICTL_ENDPOINT"));
}

}  // namespace
}  // namespace dedicated::dictl
