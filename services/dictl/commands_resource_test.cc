// dictl cloud and folder against the in-process fake controlplane.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "services/dictl/args.h"
#include "services/dictl/command_test_base.h"
#include "services/dictl/exit_codes.h"

namespace dedicated::dictl {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

v1::Cloud MakeCloud(const std::string& id, const std::string& name) {
  v1::Cloud cloud;
  cloud.set_id(id);
  cloud.set_name(name);
  return cloud;
}

v1::Folder MakeFolder(const std::string& id, const std::string& cloud_id, const std::string& name) {
  v1::Folder folder;
  folder.set_id(id);
  folder.set_cloud_id(cloud_id);
  folder.set_name(name);
  return folder;
}

class ResourceCommandsTest : public CommandTestBase {};

TEST_F(ResourceCommandsTest, CloudCreateSendsTheRequestAndPrintsTheCloud) {
  Result r = Run({"cloud", "create", "--name", "acme", "--description", "main cloud"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto creates = fake_.Requests<v1::CreateCloudRequest>("ResourceService.CreateCloud");
  ASSERT_THAT(creates, SizeIs(1));
  EXPECT_EQ(creates[0].request.name(), "acme");
  EXPECT_EQ(creates[0].request.description(), "main cloud");
  EXPECT_TRUE(IsUuid(creates[0].idempotency_key)) << creates[0].idempotency_key;
  EXPECT_EQ(r.out,
            "ID           cloud-1\n"
            "NAME         acme\n"
            "DESCRIPTION  main cloud\n"
            "CREATED      2025-11-10T00:00:00Z\n");
  // Done at once: no progress line, no operation to follow.
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(fake_.Requests<v1::GetOperationRequest>("OperationService.Get"), IsEmpty());
}

TEST_F(ResourceCommandsTest, CloudCreateWaitsForAnOperationThatIsNotDoneYet) {
  fake_.SetResourceOperationsPending(true);
  Result r = Run({"cloud", "create", "--name", "acme", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.Requests<v1::GetOperationRequest>("OperationService.Get"), SizeIs(1));
  EXPECT_THAT(r.err, HasSubstr("Operation op-2 done after"));
  v1::Cloud cloud;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &cloud).ok()) << r.out;
  EXPECT_EQ(cloud.id(), "cloud-1");
  EXPECT_EQ(cloud.name(), "acme");
}

TEST_F(ResourceCommandsTest, CloudListFollowsPagesAndGetPrintsOne) {
  fake_.SetDefaultPageSize(2);
  for (const char* id : {"cloud-a", "cloud-b", "cloud-c"}) fake_.AddCloud(MakeCloud(id, std::string(id) + "-name"));
  Result r = Run({"cloud", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto lists = fake_.Requests<v1::ListCloudsRequest>("ResourceService.ListClouds");
  ASSERT_THAT(lists, SizeIs(2));
  EXPECT_EQ(lists[1].request.page_token(), "offset-2");
  EXPECT_EQ(r.out,
            "ID       NAME          CREATED\n"
            "cloud-a  cloud-a-name\n"
            "cloud-b  cloud-b-name\n"
            "cloud-c  cloud-c-name\n");

  r = Run({"cloud", "get", "cloud-b"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("NAME +cloud-b-name\n"));

  r = Run({"cloud", "get", "cloud-z"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: cloud cloud-z not found\n");
}

TEST_F(ResourceCommandsTest, CloudListWithPageSizeFetchesOnePage) {
  for (const char* id : {"cloud-a", "cloud-b"}) fake_.AddCloud(MakeCloud(id, id));
  Result r = Run({"cloud", "list", "--page-size", "1", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto lists = fake_.Requests<v1::ListCloudsRequest>("ResourceService.ListClouds");
  ASSERT_THAT(lists, SizeIs(1));
  EXPECT_EQ(lists[0].request.page_size(), 1);
  v1::ListCloudsResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &response).ok()) << r.out;
  ASSERT_EQ(response.clouds_size(), 1);
  EXPECT_EQ(response.next_page_token(), "offset-1");
}

TEST_F(ResourceCommandsTest, FolderCreateListGet) {
  fake_.AddCloud(MakeCloud("cloud-a", "acme"));
  Result r = Run({"folder", "create", "--cloud", "cloud-a", "--name", "prod"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto creates = fake_.Requests<v1::CreateFolderRequest>("ResourceService.CreateFolder");
  ASSERT_THAT(creates, SizeIs(1));
  EXPECT_EQ(creates[0].request.cloud_id(), "cloud-a");
  EXPECT_EQ(creates[0].request.name(), "prod");
  EXPECT_THAT(r.out, ContainsRegex("ID +folder-1\n"));
  EXPECT_THAT(r.out, ContainsRegex("CLOUD +cloud-a\n"));

  fake_.AddFolder(MakeFolder("folder-x", "cloud-other", "elsewhere"));
  r = Run({"folder", "list", "--cloud", "cloud-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("folder-1  prod  cloud-a"));
  EXPECT_THAT(r.out, Not(HasSubstr("folder-x")));
  EXPECT_EQ(fake_.Requests<v1::ListFoldersRequest>("ResourceService.ListFolders")[0].request.cloud_id(), "cloud-a");

  r = Run({"folder", "get", "folder-1", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"cloud_id\": \"cloud-a\""));
}

TEST_F(ResourceCommandsTest, FolderCreateInAMissingCloudExitsOneWithTheServerMessage) {
  Result r = Run({"folder", "create", "--cloud", "cloud-404", "--name", "prod"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: cloud cloud-404 not found\n");
  EXPECT_THAT(r.out, IsEmpty());
}

TEST_F(ResourceCommandsTest, RequiredFlagsAreUsageErrors) {
  EXPECT_EQ(Run({"cloud", "create"}).code, kExitUsage);
  Result r = Run({"folder", "create", "--name", "prod"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--cloud"));
  r = Run({"folder", "list"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--cloud"));
  EXPECT_EQ(Run({"cloud", "list", "--page-size", "-1"}).code, kExitUsage);
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(ResourceCommandsTest, FolderGetQuotaPrintsUsedOverMaxOrUnlimited) {
  fake_.AddFolder(MakeFolder("folder-a", "cloud-a", "prod"));
  v1::FolderQuota quota;
  quota.set_folder_id("folder-a");
  quota.set_max_instances(10);
  quota.set_used_instances(3);
  quota.set_used_gpus(4);
  fake_.AddFolderQuota(quota);

  Result r = Run({"folder", "get-quota", "folder-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto gets = fake_.Requests<v1::GetFolderQuotaRequest>("ResourceService.GetFolderQuota");
  ASSERT_THAT(gets, SizeIs(1));
  EXPECT_EQ(gets[0].request.folder_id(), "folder-a");
  EXPECT_EQ(r.out,
            "FOLDER     folder-a\n"
            "INSTANCES  3/10\n"
            "GPUS       4/unlimited\n");

  r = Run({"folder", "get-quota", "folder-a", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::FolderQuota printed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &printed).ok()) << r.out;
  EXPECT_EQ(printed.SerializeAsString(), quota.SerializeAsString());

  r = Run({"folder", "get-quota", "folder-404"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: folder folder-404 not found\n");
}

TEST_F(ResourceCommandsTest, FolderSetQuotaSendsBothLimitsAndPrintsTheQuota) {
  fake_.AddFolder(MakeFolder("folder-a", "cloud-a", "prod"));
  v1::FolderQuota quota;
  quota.set_folder_id("folder-a");
  quota.set_max_instances(1);
  quota.set_used_instances(2);
  quota.set_used_gpus(8);
  fake_.AddFolderQuota(quota);

  Result r = Run({"folder", "set-quota", "folder-a", "--max-instances", "5", "--max-gpus", "16"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto sets = fake_.Requests<v1::SetFolderQuotaRequest>("ResourceService.SetFolderQuota");
  ASSERT_THAT(sets, SizeIs(1));
  EXPECT_EQ(sets[0].request.folder_id(), "folder-a");
  ASSERT_TRUE(sets[0].request.has_max_instances());
  EXPECT_EQ(sets[0].request.max_instances(), 5);
  ASSERT_TRUE(sets[0].request.has_max_gpus());
  EXPECT_EQ(sets[0].request.max_gpus(), 16);
  EXPECT_TRUE(IsUuid(sets[0].idempotency_key)) << sets[0].idempotency_key;
  EXPECT_EQ(r.out,
            "FOLDER     folder-a\n"
            "INSTANCES  2/5\n"
            "GPUS       8/16\n");
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(fake_.Requests<v1::GetOperationRequest>("OperationService.Get"), IsEmpty());

  // Zero is a limit, not "unset"; a flag left out and "none" both leave the field unset.
  r = Run({"folder", "set-quota", "folder-a", "--max-instances", "0"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  sets = fake_.Requests<v1::SetFolderQuotaRequest>("ResourceService.SetFolderQuota");
  ASSERT_THAT(sets, SizeIs(2));
  ASSERT_TRUE(sets[1].request.has_max_instances());
  EXPECT_EQ(sets[1].request.max_instances(), 0);
  EXPECT_FALSE(sets[1].request.has_max_gpus());
  EXPECT_THAT(r.out, ContainsRegex("INSTANCES +2/0\n"));
  EXPECT_THAT(r.out, ContainsRegex("GPUS +8/unlimited\n"));

  r = Run({"folder", "set-quota", "folder-a", "--max-instances", "none", "--max-gpus", "none"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  sets = fake_.Requests<v1::SetFolderQuotaRequest>("ResourceService.SetFolderQuota");
  ASSERT_THAT(sets, SizeIs(3));
  EXPECT_FALSE(sets[2].request.has_max_instances());
  EXPECT_FALSE(sets[2].request.has_max_gpus());
  EXPECT_NE(sets[2].idempotency_key, sets[1].idempotency_key);
  EXPECT_THAT(r.out, ContainsRegex("INSTANCES +2/unlimited\n"));
  std::optional<v1::FolderQuota> stored = fake_.folder_quota("folder-a");
  ASSERT_TRUE(stored.has_value());
  EXPECT_FALSE(stored->has_max_instances());
  EXPECT_FALSE(stored->has_max_gpus());
}

TEST_F(ResourceCommandsTest, FolderSetQuotaJsonPrintsTheOperationAndWaitsWhenNotDone) {
  fake_.AddFolder(MakeFolder("folder-a", "cloud-a", "prod"));
  Result r = Run({"folder", "set-quota", "folder-a", "--max-gpus", "4", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::Operation operation;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &operation).ok()) << r.out;
  EXPECT_TRUE(operation.done());
  EXPECT_TRUE(operation.metadata().Is<v1::SetFolderQuotaMetadata>());
  v1::FolderQuota quota;
  ASSERT_TRUE(operation.response().UnpackTo(&quota));
  EXPECT_EQ(quota.max_gpus(), 4);
  EXPECT_FALSE(quota.has_max_instances());

  fake_.SetResourceOperationsPending(true);
  r = Run({"folder", "set-quota", "folder-a", "--max-instances", "3"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.Requests<v1::GetOperationRequest>("OperationService.Get"), SizeIs(1));
  EXPECT_THAT(r.err, HasSubstr("done after"));
  EXPECT_THAT(r.out, ContainsRegex("INSTANCES +0/3\n"));
  EXPECT_THAT(r.out, ContainsRegex("GPUS +0/unlimited\n"));
}

TEST_F(ResourceCommandsTest, FolderSetQuotaHelpSaysItReplacesBothLimitsAndIsForAdmins) {
  Result r = Run({"folder", "set-quota", "--help"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Replaces both limits"));
  EXPECT_THAT(r.out, HasSubstr("installation admins"));
  EXPECT_THAT(r.out, HasSubstr("--max-instances"));
  EXPECT_THAT(r.out, HasSubstr("--max-gpus"));
}

TEST_F(ResourceCommandsTest, FolderQuotaUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"folder", "set-quota", "folder-a", "--max-instances", "-1"}, "--max-instances: must not be negative"},
      {{"folder", "set-quota", "folder-a", "--max-gpus", "-3"}, "--max-gpus: must not be negative"},
      {{"folder", "set-quota", "folder-a", "--max-gpus", "lots"}, "--max-gpus"},
      {{"folder", "set-quota", "folder-a", "--max-instances", ""}, "--max-instances"},
      {{"folder", "set-quota", "--max-gpus", "1"}, "FOLDER_ID"},
      {{"folder", "get-quota"}, "FOLDER_ID"},
      {{"folder", "get-quota", "folder-a", "folder-b"}, "folder-b"},
  };
  for (const Case& c : cases) {
    Result r = Run(c.args);
    EXPECT_EQ(r.code, kExitUsage) << c.needle;
    EXPECT_THAT(r.err, HasSubstr(c.needle));
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

}  // namespace
}  // namespace dedicated::dictl
