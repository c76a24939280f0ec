// dictl service-account, user-account, api-key and access-binding against the in-process fake controlplane.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "services/dictl/args.h"
#include "services/dictl/command_test_base.h"
#include "services/dictl/exit_codes.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

using ::testing::ContainsRegex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

class AccessCommandsTest : public CommandTestBase {
 protected:
  void SetUp() override {
    CommandTestBase::SetUp();
    v1::Cloud cloud;
    cloud.set_id("cloud-a");
    fake_.AddCloud(cloud);
    v1::Folder folder;
    folder.set_id("folder-a");
    folder.set_cloud_id("cloud-a");
    fake_.AddFolder(folder);
    v1::ServiceAccount account;
    account.set_id("sa-a");
    account.set_folder_id("folder-a");
    account.set_name("ci");
    fake_.AddServiceAccount(account);
  }

  void AddUser(const std::string& id, const std::string& name) {
    v1::UserAccount user;
    user.set_id(id);
    user.set_name(name);
    fake_.AddUserAccount(user);
  }

  static std::vector<std::string> Bindings(const std::vector<v1::AccessBinding>& bindings) {
    std::vector<std::string> texts;
    for (const v1::AccessBinding& b : bindings) texts.push_back(b.role_id() + "=" + FormatSubject(b.subject()));
    return texts;
  }
};

// --- service-account ---

TEST_F(AccessCommandsTest, ServiceAccountCreateListGet) {
  Result r = Run({"service-account", "create", "--folder", "folder-a", "--name", "deployer", "--description", "CI"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto creates = fake_.Requests<v1::CreateServiceAccountRequest>("ServiceAccountService.Create");
  ASSERT_THAT(creates, SizeIs(1));
  EXPECT_EQ(creates[0].request.folder_id(), "folder-a");
  EXPECT_EQ(creates[0].request.name(), "deployer");
  EXPECT_EQ(creates[0].request.description(), "CI");
  EXPECT_TRUE(IsUuid(creates[0].idempotency_key));
  EXPECT_THAT(r.out, ContainsRegex("ID +sa-1\n"));
  EXPECT_THAT(r.out, ContainsRegex("FOLDER +folder-a\n"));

  fake_.SetDefaultPageSize(1);
  r = Run({"service-account", "list", "--folder", "folder-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.Requests<v1::ListServiceAccountsRequest>("ServiceAccountService.List"), SizeIs(2));
  EXPECT_THAT(r.out, HasSubstr("sa-1  deployer  folder-a"));
  EXPECT_THAT(r.out, HasSubstr("sa-a  ci        folder-a"));

  r = Run({"service-account", "get", "sa-a", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::ServiceAccount account;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &account).ok()) << r.out;
  EXPECT_EQ(account.name(), "ci");

  r = Run({"service-account", "create", "--folder", "folder-404", "--name", "x"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: folder folder-404 not found\n");
}

// --- user-account ---

TEST_F(AccessCommandsTest, UserAccountCreateSendsNameAndDescriptionWithAKey) {
  Result r = Run({"user-account", "create", "--name", "alice", "--description", "ML team"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto creates = fake_.Requests<v1::CreateUserAccountRequest>("UserAccountService.Create");
  ASSERT_THAT(creates, SizeIs(1));
  EXPECT_EQ(creates[0].request.name(), "alice");
  EXPECT_EQ(creates[0].request.description(), "ML team");
  EXPECT_TRUE(IsUuid(creates[0].idempotency_key)) << creates[0].idempotency_key;
  EXPECT_EQ(creates[0].authorization, std::string("Api-Key ") + kTestApiKey);
  EXPECT_EQ(r.out,
            "ID           ua-1\n"
            "NAME         alice\n"
            "DESCRIPTION  ML team\n"
            "CREATED      2025-11-10T00:00:00Z\n");
  EXPECT_THAT(r.err, IsEmpty());

  // Each invocation has its own key.
  ASSERT_EQ(Run({"user-account", "create", "--name", "bob", "--format", "json"}).code, kExitOk);
  creates = fake_.Requests<v1::CreateUserAccountRequest>("UserAccountService.Create");
  ASSERT_THAT(creates, SizeIs(2));
  EXPECT_NE(creates[0].idempotency_key, creates[1].idempotency_key);

  r = Run({"user-account", "create", "--name", "alice"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: ALREADY_EXISTS: user account alice already exists\n");
}

TEST_F(AccessCommandsTest, UserAccountCreateJsonIsTheAccount) {
  Result r = Run({"user-account", "create", "--name", "alice", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::UserAccount account;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &account).ok()) << r.out;
  EXPECT_EQ(account.id(), "ua-1");
  EXPECT_EQ(account.name(), "alice");
  EXPECT_EQ(account.created_at().seconds(), 1762732800);
  EXPECT_THAT(r.out, HasSubstr("\"created_at\": \"2025-11-10T00:00:00Z\""));
}

TEST_F(AccessCommandsTest, UserAccountCreateWithoutNameIsUsageErrorAndNothingIsSent) {
  Result r = Run({"user-account", "create", "--description", "x"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--name"));
  r = Run({"user-account", "create", "--name", "alice", "extra"});
  EXPECT_EQ(r.code, kExitUsage);
  r = Run({"user-account", "list", "--folder", "folder-a"});
  EXPECT_EQ(r.code, kExitUsage);
  r = Run({"user-account", "list", "--page-size", "-1"});
  EXPECT_EQ(r.code, kExitUsage);
  r = Run({"user-account", "get"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("USER_ACCOUNT_ID"));
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(AccessCommandsTest, UserAccountListFollowsPagesWithoutAParent) {
  for (const char* name : {"carol", "alice", "bob"}) {
    ASSERT_EQ(Run({"user-account", "create", "--name", name}).code, kExitOk);
  }
  fake_.SetDefaultPageSize(2);
  Result r = Run({"user-account", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto lists = fake_.Requests<v1::ListUserAccountsRequest>("UserAccountService.List");
  ASSERT_THAT(lists, SizeIs(2));
  EXPECT_EQ(lists[0].request.page_size(), 0);
  EXPECT_EQ(lists[0].request.page_token(), "");
  EXPECT_EQ(lists[1].request.page_token(), "offset-2");
  EXPECT_EQ(r.out,
            "ID    NAME   CREATED\n"
            "ua-1  carol  2025-11-10T00:00:00Z\n"
            "ua-2  alice  2025-11-10T00:00:00Z\n"
            "ua-3  bob    2025-11-10T00:00:00Z\n");
  EXPECT_THAT(r.err, IsEmpty());

  r = Run({"user-account", "list", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::ListUserAccountsResponse all;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &all).ok()) << r.out;
  ASSERT_EQ(all.user_accounts_size(), 3);
  EXPECT_EQ(all.user_accounts(2).name(), "bob");
  EXPECT_EQ(all.next_page_token(), "");
}

TEST_F(AccessCommandsTest, UserAccountListWithPageSizeFetchesOnePage) {
  for (const char* name : {"alice", "bob", "carol"}) {
    ASSERT_EQ(Run({"user-account", "create", "--name", name}).code, kExitOk);
  }
  Result r = Run({"user-account", "list", "--page-size", "2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto lists = fake_.Requests<v1::ListUserAccountsRequest>("UserAccountService.List");
  ASSERT_THAT(lists, SizeIs(1));
  EXPECT_EQ(lists[0].request.page_size(), 2);
  EXPECT_THAT(r.out, HasSubstr("ua-2  bob"));
  EXPECT_THAT(r.out, Not(HasSubstr("carol")));
  EXPECT_THAT(r.err, HasSubstr("--page-token offset-2"));

  r = Run({"user-account", "list", "--page-size", "2", "--page-token", "offset-2", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  lists = fake_.Requests<v1::ListUserAccountsRequest>("UserAccountService.List");
  ASSERT_THAT(lists, SizeIs(2));
  EXPECT_EQ(lists[1].request.page_token(), "offset-2");
  v1::ListUserAccountsResponse page;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &page).ok()) << r.out;
  ASSERT_EQ(page.user_accounts_size(), 1);
  EXPECT_EQ(page.user_accounts(0).name(), "carol");
  EXPECT_EQ(page.next_page_token(), "");
}

TEST_F(AccessCommandsTest, UserAccountGetById) {
  v1::UserAccount alice;
  alice.set_id("dua-alice");
  alice.set_name("alice");
  alice.set_description("ML team");
  alice.mutable_created_at()->set_seconds(1762732800);
  fake_.AddUserAccount(alice);

  Result r = Run({"user-account", "get", "dua-alice"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto gets = fake_.Requests<v1::GetUserAccountRequest>("UserAccountService.Get");
  ASSERT_THAT(gets, SizeIs(1));
  EXPECT_EQ(gets[0].request.user_account_id(), "dua-alice");
  EXPECT_EQ(gets[0].idempotency_key, "");
  EXPECT_EQ(r.out,
            "ID           dua-alice\n"
            "NAME         alice\n"
            "DESCRIPTION  ML team\n"
            "CREATED      2025-11-10T00:00:00Z\n");

  r = Run({"user-account", "get", "dua-alice", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::UserAccount account;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &account).ok()) << r.out;
  EXPECT_EQ(account.SerializeAsString(), alice.SerializeAsString());

  r = Run({"user-account", "get", "dua-404"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: user account dua-404 not found\n");
}

TEST_F(AccessCommandsTest, UserManagesItsOwnKeysWithApiKeySubject) {
  ASSERT_EQ(Run({"user-account", "create", "--name", "alice"}).code, kExitOk);
  Result r = Run({"api-key", "create", "--subject", "ua-1", "--description", "laptop"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(fake_.Requests<v1::CreateApiKeyRequest>("ApiKeyService.Create")[0].request.subject_id(), "ua-1");
  EXPECT_THAT(r.out, ContainsRegex("SUBJECT +ua-1\n"));
  r = Run({"api-key", "list", "--subject", "ua-1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("key-2  ua-1"));

  r = Run({"user-account", "create", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("dictl api-key create --subject <its id>"));
  r = Run({"user-account", "get", "--help"});
  EXPECT_THAT(r.out, HasSubstr("'dictl api-key create|list --subject <its id>'"));
}

// --- api-key ---

TEST_F(AccessCommandsTest, ApiKeyCreatePrintsTheSecretOnceInATable) {
  Result r = Run({"api-key", "create", "--subject", "sa-a", "--description", "ci runner"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto creates = fake_.Requests<v1::CreateApiKeyRequest>("ApiKeyService.Create");
  ASSERT_THAT(creates, SizeIs(1));
  EXPECT_EQ(creates[0].request.subject_id(), "sa-a");
  EXPECT_EQ(creates[0].request.description(), "ci runner");
  EXPECT_FALSE(creates[0].request.has_expires_at());
  EXPECT_THAT(r.out, ContainsRegex("ID +key-1\n"));
  EXPECT_THAT(r.out, ContainsRegex("EXPIRES +never\n"));
  EXPECT_THAT(r.out, HasSubstr("\nsecret (shown once, store it now): dik_fake-secret-1\n"));
  // Exactly once, and nowhere else.
  EXPECT_EQ(r.out.find("dik_fake-secret-1"), r.out.rfind("dik_fake-secret-1"));
  EXPECT_THAT(r.err, Not(HasSubstr("dik_fake-secret-1")));
}

TEST_F(AccessCommandsTest, ApiKeyCreateJsonIsKeyAndSecret) {
  Result r = Run({"api-key", "create", "--subject", "sa-a", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  v1::CreateApiKeyResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &response).ok()) << r.out;
  EXPECT_EQ(response.api_key().id(), "key-1");
  EXPECT_EQ(response.secret(), "dik_fake-secret-1");
  EXPECT_THAT(r.out, HasSubstr("\"secret\": \"dik_fake-secret-1\""));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(AccessCommandsTest, ApiKeyExpiryFromDurationOrTime) {
  runtime_.now = [] { return absl::FromUnixSeconds(1762732800); };
  ASSERT_EQ(Run({"api-key", "create", "--subject", "sa-a", "--expires-in", "24h"}).code, kExitOk);
  ASSERT_EQ(Run({"api-key", "create", "--subject", "sa-a", "--expires-in", "30d"}).code, kExitOk);
  Result r = Run({"api-key", "create", "--subject", "sa-a", "--expires-at", "2026-01-31T03:00:00+03:00"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("EXPIRES +2026-01-31T00:00:00Z\n"));
  auto creates = fake_.Requests<v1::CreateApiKeyRequest>("ApiKeyService.Create");
  ASSERT_THAT(creates, SizeIs(3));
  EXPECT_EQ(creates[0].request.expires_at().seconds(), 1762732800 + 24 * 3600);
  EXPECT_EQ(creates[1].request.expires_at().seconds(), 1762732800 + 30 * 24 * 3600);
  EXPECT_EQ(creates[2].request.expires_at().seconds(), 1769817600);
}

TEST_F(AccessCommandsTest, ApiKeyBadExpiryIsUsageError) {
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{{"--expires-in", "soon"},
                                             {"--expires-in", "-1h"},
                                             {"--expires-at", "tomorrow"},
                                             {"--expires-in", "1h", "--expires-at", "2026-01-31T00:00:00Z"}}) {
    std::vector<std::string> args = {"api-key", "create", "--subject", "sa-a"};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = Run(args);
    EXPECT_EQ(r.code, kExitUsage) << extra[0];
    EXPECT_THAT(r.err, HasSubstr("--expires-")) << extra[0];
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(AccessCommandsTest, ApiKeyListNeverShowsSecretsAndDeleteDeletes) {
  ASSERT_EQ(Run({"api-key", "create", "--subject", "sa-a", "--description", "one"}).code, kExitOk);
  Result r = Run({"api-key", "list", "--subject", "sa-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(fake_.Requests<v1::ListApiKeysRequest>("ApiKeyService.List")[0].request.subject_id(), "sa-a");
  EXPECT_THAT(r.out, HasSubstr("key-1  sa-a     one          2025-11-10T00:00:00Z  never"));
  EXPECT_THAT(r.out, Not(HasSubstr("secret")));
  r = Run({"api-key", "list", "--subject", "sa-a", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("secret")));

  r = Run({"api-key", "delete", "key-1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "API key key-1 deleted.\n");
  EXPECT_EQ(fake_.Requests<v1::DeleteApiKeyRequest>("ApiKeyService.Delete")[0].request.api_key_id(), "key-1");
  r = Run({"api-key", "delete", "key-1"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: API key key-1 not found\n");
}

// --- access-binding ---

TEST_F(AccessCommandsTest, AccessBindingAddAndRemoveSendOneDelta) {
  Result r = Run({"access-binding", "add", "--folder", "folder-a", "--role", "ai.languageModels.user", "--subject",
                  "serviceAccount:sa-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "Access bindings of folder-a updated.\n");
  r = Run({"access-binding", "add", "--cloud", "cloud-a", "--role", "ai.models.viewer", "--subject",
           "system:allAuthenticatedUsers"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  r = Run({"access-binding", "remove", "--folder", "folder-a", "--role", "ai.languageModels.user", "--subject",
           "serviceAccount:sa-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;

  auto updates = fake_.Requests<v1::UpdateAccessBindingsRequest>("AccessBindingService.UpdateAccessBindings");
  ASSERT_THAT(updates, SizeIs(3));
  EXPECT_EQ(updates[0].request.resource_id(), "folder-a");
  ASSERT_EQ(updates[0].request.access_binding_deltas_size(), 1);
  const v1::AccessBindingDelta& add = updates[0].request.access_binding_deltas(0);
  EXPECT_EQ(add.action(), v1::ADD);
  EXPECT_EQ(add.access_binding().role_id(), "ai.languageModels.user");
  EXPECT_EQ(add.access_binding().subject().type(), "serviceAccount");
  EXPECT_EQ(add.access_binding().subject().id(), "sa-a");
  EXPECT_TRUE(IsUuid(updates[0].idempotency_key));
  EXPECT_EQ(updates[1].request.resource_id(), "cloud-a");
  EXPECT_EQ(updates[1].request.access_binding_deltas(0).access_binding().subject().type(), "system");
  EXPECT_EQ(updates[2].request.access_binding_deltas(0).action(), v1::REMOVE);
  EXPECT_THAT(fake_.access_bindings("folder-a"), IsEmpty());
  EXPECT_THAT(Bindings(fake_.access_bindings("cloud-a")), ElementsAre("ai.models.viewer=system:allAuthenticatedUsers"));
}

TEST_F(AccessCommandsTest, AccessBindingListPrintsRoleAndSubject) {
  fake_.SetDefaultPageSize(1);
  ASSERT_EQ(Run({"access-binding", "set", "--folder", "folder-a", "--binding", "ai.models.editor=userAccount:u-1",
                 "--binding", "ai.languageModels.user=serviceAccount:sa-a"})
                .code,
            kExitOk);
  Result r = Run({"access-binding", "list", "--folder", "folder-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.Requests<v1::ListAccessBindingsRequest>("AccessBindingService.ListAccessBindings"), SizeIs(2));
  EXPECT_EQ(r.out,
            "ROLE                    SUBJECT\n"
            "ai.models.editor        userAccount:u-1\n"
            "ai.languageModels.user  serviceAccount:sa-a\n");

  r = Run({"access-binding", "list", "--cloud", "cloud-404"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "error: NOT_FOUND: resource cloud-404 not found\n");
}

TEST_F(AccessCommandsTest, AccessBindingSetReplacesAllAndClearNeedsItsFlag) {
  fake_.AddAccessBinding("folder-a", ParseBinding("old.role=userAccount:u-9").value());
  Result r =
      Run({"access-binding", "set", "--folder", "folder-a", "--binding", "ai.languageModels.user=serviceAccount:sa-a"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(Bindings(fake_.access_bindings("folder-a")), ElementsAre("ai.languageModels.user=serviceAccount:sa-a"));
  auto sets = fake_.Requests<v1::SetAccessBindingsRequest>("AccessBindingService.SetAccessBindings");
  ASSERT_THAT(sets, SizeIs(1));
  EXPECT_EQ(sets[0].request.resource_id(), "folder-a");

  r = Run({"access-binding", "set", "--folder", "folder-a"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--clear"));
  r = Run({"access-binding", "set", "--folder", "folder-a", "--clear", "--binding", "a=userAccount:u"});
  EXPECT_EQ(r.code, kExitUsage);

  r = Run({"access-binding", "set", "--folder", "folder-a", "--clear", "--format", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.access_bindings("folder-a"), IsEmpty());
  // JSON: the done operation, with its metadata.
  EXPECT_THAT(r.out, HasSubstr("dedicated.v1.SetAccessBindingsMetadata"));
  EXPECT_THAT(r.out, HasSubstr("\"done\": true"));
}

TEST_F(AccessCommandsTest, AccessBindingWaitsForAPendingOperation) {
  fake_.SetResourceOperationsPending(true);
  Result r = Run({"access-binding", "add", "--folder", "folder-a", "--role", "ai.languageModels.user", "--subject",
                  "userAccount:u-1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(fake_.Requests<v1::GetOperationRequest>("OperationService.Get"), SizeIs(1));
  EXPECT_EQ(r.out, "Access bindings of folder-a updated.\n");
}

TEST_F(AccessCommandsTest, MalformedSubjectOrResourceIsUsageErrorAndNothingIsSent) {
  for (const char* subject : {"sa-a", "robot:sa-a", "serviceAccount:", "system:everyone", "userAccount:a b"}) {
    Result r = Run(
        {"access-binding", "add", "--folder", "folder-a", "--role", "ai.languageModels.user", "--subject", subject});
    EXPECT_EQ(r.code, kExitUsage) << subject;
    EXPECT_THAT(r.err, HasSubstr("--subject")) << subject;
  }
  Result r =
      Run({"access-binding", "set", "--folder", "folder-a", "--binding", "ai.languageModels.user:serviceAccount:x"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--binding"));
  r = Run({"access-binding", "list", "--folder", "folder-a", "--cloud", "cloud-a"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("exactly one of --folder, --cloud"));
  r = Run({"access-binding", "remove", "--role", "r", "--subject", "userAccount:u"});
  EXPECT_EQ(r.code, kExitUsage);
  r = Run({"access-binding", "add", "--folder", "f", "--role", "bad role", "--subject", "userAccount:u"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--role"));
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(AccessCommandsTest, OnlyApiKeyCreatePrintsASecret) {
  // Every verb of the identity groups once, in both formats: a secret shows up only in api-key create.
  const std::vector<std::vector<std::string>> others = {
      {"service-account", "list", "--folder", "folder-a"},
      {"service-account", "get", "sa-a"},
      {"user-account", "list"},
      {"user-account", "get", "ua-u"},
      {"api-key", "list", "--subject", "sa-a"},
      {"access-binding", "list", "--folder", "folder-a"},
  };
  AddUser("ua-u", "alice");
  ASSERT_EQ(Run({"api-key", "create", "--subject", "sa-a"}).code, kExitOk);
  ASSERT_EQ(Run({"api-key", "create", "--subject", "ua-u"}).code, kExitOk);
  for (const char* format : {"table", "json"}) {
    for (std::vector<std::string> args : others) {
      args.insert(args.end(), {"--format", format});
      Result r = Run(args);
      ASSERT_EQ(r.code, kExitOk) << args[0] << " " << args[1] << ": " << r.err;
      EXPECT_THAT(r.out + r.err, Not(HasSubstr("dik_fake-secret"))) << args[0] << " " << args[1];
    }
  }
}

}  // namespace
}  // namespace dedicated::dictl
