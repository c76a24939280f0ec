#include "services/node_agent/credentials.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/node_agent/test_util.h"

namespace dedicated::node_agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string WriteKeyFile(const std::string& contents) {
  std::string path = testing::NewTempDir("credentials") + "/node.key";
  std::ofstream(path) << contents;
  return path;
}

TEST(LoadNodeCredential, ReadsAndTrimsTheKeyFile) {
  const std::string path = WriteKeyFile("  dik_node-secret\n");
  absl::StatusOr<NodeCredential> credential = LoadNodeCredential("", path);
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->secret, "dik_node-secret");
  EXPECT_EQ(credential->source, "--node-key-file " + path);
}

TEST(LoadNodeCredential, EnvironmentSecretWinsOverTheFile) {
  // The file is not even read: a missing one is no error then.
  absl::StatusOr<NodeCredential> credential = LoadNodeCredential(" dik_from-env\n", "/nonexistent/node.key");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->secret, "dik_from-env");
  EXPECT_EQ(credential->source, "$DI_NODE_KEY");
}

TEST(LoadNodeCredential, NothingGivenIsNoCredential) {
  absl::StatusOr<NodeCredential> credential = LoadNodeCredential("", "");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->secret, "");
}

TEST(LoadNodeCredential, UnusableFileIsAnErrorNamingTheFlag) {
  absl::StatusOr<NodeCredential> missing = LoadNodeCredential("", "/nonexistent/node.key");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("--node-key-file /nonexistent/node.key: cannot read it"));

  absl::StatusOr<NodeCredential> empty = LoadNodeCredential("", WriteKeyFile("\n"));
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("--node-key-file"));
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));

  absl::StatusOr<NodeCredential> directory = LoadNodeCredential("", testing::NewTempDir("credentials-dir"));
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.status().message(), HasSubstr("not a regular file"));
}

TEST(LoadNodeCredential, SecretAHeaderCannotCarryIsRefusedWithoutQuotingIt) {
  absl::StatusOr<NodeCredential> spaced = LoadNodeCredential("", WriteKeyFile("dik_two words\n"));
  ASSERT_FALSE(spaced.ok());
  EXPECT_THAT(spaced.status().message(), Not(HasSubstr("dik_two")));
  absl::StatusOr<NodeCredential> control = LoadNodeCredential("dik_\x7fsecret", "");
  ASSERT_FALSE(control.ok());
  EXPECT_THAT(control.status().message(), HasSubstr("$DI_NODE_KEY"));
  EXPECT_THAT(control.status().message(), Not(HasSubstr("secret")));
}

TEST(AuthorizationValue, IsTheApiKeyScheme) { EXPECT_EQ(AuthorizationValue("dik_x"), "Api-Key dik_x"); }

}  // namespace
}  // namespace dedicated::node_agent
