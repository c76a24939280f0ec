// Where the API key comes from, and that every call carries it (and nothing prints it).

#include "services/dictl/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "services/dictl/command_test_base.h"
#include "services/dictl/exit_codes.h"

namespace dedicated::dictl {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// A fresh directory per test, removed afterwards; key files are written under it.
class TempTree {
 public:
  TempTree() {
    static int counter = 0;
    root_ = std::filesystem::path(::testing::TempDir()) / absl::StrCat("dictl_keys_", getpid(), "_", counter++);
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~TempTree() { std::filesystem::remove_all(root_); }

  std::string Path(const std::string& relative) const { return (root_ / relative).string(); }
  std::string Dir(const std::string& relative) const {
    std::filesystem::create_directories(root_ / relative);
    return Path(relative);
  }
  std::string Write(const std::string& relative, const std::string& contents, mode_t mode = 0600) const {
    std::filesystem::path path = root_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << contents;
    chmod(path.c_str(), mode);
    return path.string();
  }

 private:
  std::filesystem::path root_;
};

class ResolveApiKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv(kApiKeyEnv);
    unsetenv(kKeyFileEnv);
  }
  void TearDown() override { SetUp(); }

  // Everything set up, so that each test removes what outranks the source it checks.
  void SetUpAllSources() {
    flag_file_ = tree_.Write("flag.key", "dik_from-flag\n");
    setenv(kApiKeyEnv, "dik_from-env", 1);
    setenv(kKeyFileEnv, tree_.Write("env.key", "dik_from-env-file\n").c_str(), 1);
    tree_.Write("repo/.local/admin.key", "dik_from-local\n");
    work_dir_ = tree_.Dir("repo/services/dictl");
  }

  TempTree tree_;
  std::string flag_file_;
  std::string work_dir_;
};

TEST_F(ResolveApiKeyTest, LooksInFlagThenEnvSecretThenEnvFileThenLocalFile) {
  SetUpAllSources();
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = flag_file_, .working_dir = work_dir_});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "dik_from-flag");
  EXPECT_EQ(key->source, "--key-file " + flag_file_);

  key = ResolveApiKey({.key_file_flag = "", .working_dir = work_dir_});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "dik_from-env");
  EXPECT_EQ(key->source, "$DICTL_API_KEY");

  unsetenv(kApiKeyEnv);
  key = ResolveApiKey({.key_file_flag = "", .working_dir = work_dir_});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "dik_from-env-file");
  EXPECT_EQ(key->source, "$DICTL_KEY_FILE (" + tree_.Path("env.key") + ")");

  // Found by walking up from a subdirectory of the checkout.
  unsetenv(kKeyFileEnv);
  key = ResolveApiKey({.key_file_flag = "", .working_dir = work_dir_});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "dik_from-local");
  EXPECT_EQ(key->source, tree_.Path("repo/.local/admin.key"));
  EXPECT_THAT(key->warnings, IsEmpty());
}

TEST_F(ResolveApiKeyTest, NoKeyAnywhereIsNoKeyAndNoError) {
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = "", .working_dir = tree_.Dir("empty/sub")});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "");
  EXPECT_THAT(key->warnings, IsEmpty());
}

TEST_F(ResolveApiKeyTest, EmptyVariablesCountAsUnset) {
  setenv(kApiKeyEnv, "", 1);
  setenv(kKeyFileEnv, "", 1);
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = "", .working_dir = tree_.Dir("empty")});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "");
}

TEST_F(ResolveApiKeyTest, TrimsWhitespaceAndNewlines) {
  std::string path = tree_.Write("k", " \t dik_abc \r\n\n");
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = path, .working_dir = ""});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "dik_abc");

  setenv(kApiKeyEnv, "  dik_def\n", 1);
  key = ResolveApiKey({.key_file_flag = "", .working_dir = ""});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "dik_def");
}

TEST_F(ResolveApiKeyTest, NamedKeyFileThatCannotBeUsedIsAnErrorNamingFlagOrVariable) {
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = tree_.Path("missing.key"), .working_dir = ""});
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("--key-file " + tree_.Path("missing.key")));
  EXPECT_THAT(key.status().message(), HasSubstr("No such file"));

  setenv(kKeyFileEnv, tree_.Write("empty.key", "\n").c_str(), 1);
  key = ResolveApiKey({.key_file_flag = "", .working_dir = ""});
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.status().message(), HasSubstr("$DICTL_KEY_FILE"));
  EXPECT_THAT(key.status().message(), HasSubstr("empty"));
}

TEST_F(ResolveApiKeyTest, KeyWithCharactersAHeaderCannotCarryIsRefusedWithoutEchoingIt) {
  std::string path = tree_.Write("k", "dik_half one\n");
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = path, .working_dir = ""});
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.status().message(), HasSubstr("--key-file"));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("dik_half")));

  setenv(kApiKeyEnv, "dik_\x01secret", 1);
  key = ResolveApiKey({.key_file_flag = "", .working_dir = ""});
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.status().message(), HasSubstr("$DICTL_API_KEY"));
  EXPECT_THAT(key.status().message(), Not(HasSubstr("secret")));
}

TEST_F(ResolveApiKeyTest, KeyFileOthersCanReadIsUsedWithAWarning) {
  std::string path = tree_.Write("k", "dik_abc\n", 0644);
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = path, .working_dir = ""});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "dik_abc");
  EXPECT_THAT(key->warnings, ElementsAre(HasSubstr("mode 0644")));
  EXPECT_THAT(key->warnings, ElementsAre(HasSubstr("chmod 600 " + path)));
}

TEST_F(ResolveApiKeyTest, UnusableFoundLocalKeyIsAWarningNotAnError) {
  // The user did not name this file, so a broken one must not stop dictl.
  tree_.Dir("repo/.local/admin.key");  // a directory where the file should be
  absl::StatusOr<ApiKey> key = ResolveApiKey({.key_file_flag = "", .working_dir = tree_.Dir("repo/sub")});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->secret, "");
  EXPECT_THAT(key->warnings, ElementsAre(HasSubstr("ignoring " + tree_.Path("repo/.local/admin.key"))));
}

TEST(AuthorizationValue, IsTheApiKeyScheme) { EXPECT_EQ(AuthorizationValue("dik_x"), "Api-Key dik_x"); }

// The header on the wire, through RunDictl and the real generated client.
class AuthTest : public CommandTestBase {
 protected:
  std::vector<std::string> Authorizations() const {
    std::vector<std::string> values;
    for (const testing::FakeControlplane::Call& call : fake_.calls()) values.push_back(call.authorization);
    return values;
  }
  TempTree tree_;
};

TEST_F(AuthTest, EveryCallCarriesTheKey) {
  v1::Instance instance;
  instance.set_id("inst-1");
  fake_.AddInstance(instance);
  fake_.SetOperationOutcome(/*polls=*/2);
  // Start, then polls of the operation and reads of the instance for the progress line.
  Result r = Run({"instance", "start", "inst-1", "--wait"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_THAT(fake_.calls(), SizeIs(::testing::Gt(3)));
  EXPECT_THAT(Authorizations(), Each(std::string("Api-Key ") + kTestApiKey));
  EXPECT_THAT(r.err, Not(HasSubstr("no API key")));
}

TEST_F(AuthTest, KeyFileFlagWinsAndTheSecretIsNeverPrinted) {
  std::string path = tree_.Write("ci.key", "dik_from-file\n");
  fake_.RequireApiKey("dik_from-file");
  // A global flag: accepted before the group too.
  Result r = Run({"--key-file", path, "model", "get", "missing-model"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: NOT_FOUND: model missing-model not found"));
  EXPECT_THAT(Authorizations(), ElementsAre("Api-Key dik_from-file"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("dik_from-file")));
}

TEST_F(AuthTest, WithoutAKeyTheCallGoesOutBareAfterAHint) {
  unsetenv(kApiKeyEnv);
  runtime_.working_dir = tree_.Dir("no-key-here");
  fake_.RequireApiKey("dik_right");
  Result r = Run({"model", "list"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("hint: no API key: pass --key-file, set DICTL_API_KEY, or run deploy/local/up.sh "
                               "which writes .local/admin.key\n"));
  EXPECT_THAT(r.err, HasSubstr("error: UNAUTHENTICATED: missing or invalid API key\n"));
  EXPECT_THAT(Authorizations(), ElementsAre(""));
}

TEST_F(AuthTest, RefusedKeyIsReportedByItsSourceNotItsSecret) {
  fake_.RequireApiKey("dik_other");
  Result r = Run({"model", "list"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("error: UNAUTHENTICATED: missing or invalid API key\n"));
  EXPECT_THAT(r.err, HasSubstr("did not accept the API key from $DICTL_API_KEY"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(kTestApiKey)));
}

TEST_F(AuthTest, LocalAdminKeyIsFoundFromASubdirectory) {
  unsetenv(kApiKeyEnv);
  tree_.Write("checkout/.local/admin.key", "dik_local-admin\n");
  runtime_.working_dir = tree_.Dir("checkout/services/dictl");
  Result r = Run({"model", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(Authorizations(), ElementsAre("Api-Key dik_local-admin"));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(AuthTest, UnreadableKeyFileIsAUsageErrorAndNothingIsSent) {
  Result r = Run({"model", "list", "--key-file", tree_.Path("nope.key")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --key-file " + tree_.Path("nope.key") + ": cannot read it"));
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

}  // namespace
}  // namespace dedicated::dictl
