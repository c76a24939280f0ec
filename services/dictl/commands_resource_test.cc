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

}  // namespace
}  // namespace dedicated::dictl
