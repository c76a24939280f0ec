// Command-line handling: everything here fails or succeeds before any RPC is sent.

#include "services/dictl/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "services/dictl/exit_codes.h"

namespace dedicated::dictl {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Result {
  int code;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("DICTL_ENDPOINT");
    unsetenv("DICTL_FORMAT");
    unsetenv("DICTL_API_KEY");
    unsetenv("DICTL_KEY_FILE");
  }

  Result Run(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    Runtime runtime;
    runtime.retry.max_retries = 0;
    int code = RunDictl(args, out, err, runtime);
    return {code, out.str(), err.str()};
  }
};

TEST_F(CliTest, NoArgumentsIsUsageError) {
  Result r = Run({});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("Usage: dictl"));
}

TEST_F(CliTest, HelpAtEveryLevelExitsZeroWithExamples) {
  Result top = Run({"--help"});
  EXPECT_EQ(top.code, kExitOk);
  EXPECT_THAT(top.out, HasSubstr("instance"));
  EXPECT_THAT(top.out, HasSubstr("DICTL_ENDPOINT"));
  EXPECT_THAT(top.out, HasSubstr("Examples:"));

  for (const char* group : {"instance", "operation", "model", "cloud", "folder", "service-account", "user-account",
                            "api-key", "access-binding", "node"}) {
    Result r = Run({group, "--help"});
    EXPECT_EQ(r.code, kExitOk) << group;
    EXPECT_THAT(r.out, HasSubstr("Verbs:")) << group;
    EXPECT_THAT(r.out, HasSubstr("Examples:")) << group;
  }
  const std::vector<std::vector<std::string>> verbs = {
      {"instance", "deploy"}, {"instance", "get"},    {"instance", "list"},    {"instance", "start"},
      {"instance", "stop"},   {"instance", "delete"}, {"instance", "update"},  {"instance", "operations"},
      {"operation", "get"},   {"operation", "wait"},  {"operation", "cancel"}, {"model", "list"},
      {"model", "get"},       {"cloud", "create"},    {"cloud", "list"},       {"cloud", "get"},
      {"folder", "create"},   {"folder", "list"},     {"folder", "get"},       {"folder", "get-quota"},
      {"folder", "set-quota"},                        {"service-account", "create"},
      {"service-account", "list"},                    {"service-account", "get"},
      {"user-account", "create"},                     {"user-account", "list"},
      {"user-account", "get"},                        {"api-key", "create"},
      {"api-key", "list"},    {"api-key", "delete"},  {"access-binding", "list"},
      {"access-binding", "add"},                      {"access-binding", "remove"},
      {"access-binding", "set"},                      {"node", "list"},
      {"node", "get"},        {"node", "drain"},      {"node", "undrain"}};
  for (const auto& verb : verbs) {
    Result r = Run({verb[0], verb[1], "--help"});
    EXPECT_EQ(r.code, kExitOk) << verb[0] << " " << verb[1];
    EXPECT_THAT(r.out, HasSubstr("Usage: dictl " + verb[0] + " " + verb[1])) << verb[1];
    EXPECT_THAT(r.out, HasSubstr("Examples:\n  dictl " + verb[0] + " " + verb[1])) << verb[1];
    EXPECT_THAT(r.out, HasSubstr("--endpoint")) << verb[1];
    EXPECT_THAT(r.out, HasSubstr("--key-file")) << verb[1];
  }
}

TEST_F(CliTest, HelpExplainsWhereTheApiKeyComesFrom) {
  Result r = Run({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  for (const char* needle : {"--key-file PATH", "Api-Key", "$DICTL_API_KEY", "$DICTL_KEY_FILE", ".local/admin.key"}) {
    EXPECT_THAT(r.out, HasSubstr(needle));
  }
}

TEST_F(CliTest, VerbHelpListsItsFlags) {
  Result r = Run({"instance", "deploy", "-h"});
  EXPECT_EQ(r.code, kExitOk);
  for (const char* flag : {"--folder", "--name", "--model", "--config", "--replicas", "--description",
                           "--labels", "--wait", "--idempotency-key"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
}

TEST_F(CliTest, HelpWinsOverOtherMistakes) {
  EXPECT_EQ(Run({"instance", "deploy", "--bogus", "--help"}).code, kExitOk);
}

TEST_F(CliTest, UnknownGroupIsUsageErrorNamingIt) {
  Result r = Run({"instanse", "list"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("unknown command group \"instanse\""));
}

TEST_F(CliTest, UnknownVerbIsUsageErrorNamingIt) {
  Result r = Run({"instance", "explode", "x"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("unknown verb \"explode\""));
  EXPECT_THAT(r.err, HasSubstr("deploy"));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST_F(CliTest, MissingVerbIsUsageError) {
  Result r = Run({"model"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("missing verb"));
}

TEST_F(CliTest, UnknownFlagIsUsageErrorNamingIt) {
  Result r = Run({"instance", "get", "inst-1", "--colour=red"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--colour"));

  r = Run({"--verbose", "instance", "get", "inst-1"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--verbose"));
}

TEST_F(CliTest, VerbFlagBeforeVerbIsUsageError) {
  Result r = Run({"instance", "--folder", "f", "list"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--folder"));
  EXPECT_THAT(r.err, HasSubstr("after the verb"));
}

TEST_F(CliTest, GlobalFlagsMayComeAnywhere) {
  // A bad --format proves the flag was parsed wherever it stood: before the group, between group and
  // verb, or after the verb.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--format", "yaml", "instance", "get", "inst-1"},
                                             {"instance", "--format=yaml", "get", "inst-1"},
                                             {"instance", "get", "inst-1", "--format", "yaml"}}) {
    Result r = Run(args);
    EXPECT_EQ(r.code, kExitUsage);
    EXPECT_THAT(r.err, HasSubstr("--format: must be table, json or csv"));
  }
}

TEST_F(CliTest, UsageIsAVerbOfItsOwnAndChecksItsWindow) {
  Result missing = Run({"usage", "--from", "2026-01-01", "--to", "2026-02-01"});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_THAT(missing.err, HasSubstr("--folder: is required"));
  Result backwards = Run({"usage", "--folder", "f", "--from", "2026-02-01", "--to", "2026-01-01"});
  EXPECT_EQ(backwards.code, kExitUsage);
  EXPECT_THAT(backwards.err, HasSubstr("--to: must be after --from"));
  Result garbled = Run({"usage", "--folder", "f", "--from", "yesterday", "--to", "2026-01-01"});
  EXPECT_EQ(garbled.code, kExitUsage);
  EXPECT_THAT(garbled.err, HasSubstr("--from: expected RFC 3339"));
  Result help = Run({"usage", "--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("dictl usage --folder FOLDER_ID --from T1 --to T2"));
}

TEST_F(CliTest, CsvIsOnlyForUsage) {
  Result r = Run({"instance", "get", "inst-1", "--format", "csv"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("only 'dictl usage' prints CSV"));
}

TEST_F(CliTest, FormatFromEnvironmentIsValidated) {
  setenv("DICTL_FORMAT", "xml", 1);
  Result r = Run({"model", "list"});
  unsetenv("DICTL_FORMAT");
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("DICTL_FORMAT"));
}

TEST_F(CliTest, BadTimeoutIsUsageError) {
  EXPECT_EQ(Run({"model", "list", "--timeout", "soon"}).code, kExitUsage);
  EXPECT_EQ(Run({"model", "list", "--timeout", "0s"}).code, kExitUsage);
}

TEST_F(CliTest, MissingPositionalIsUsageError) {
  Result r = Run({"instance", "get"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("missing argument INSTANCE_ID"));
  EXPECT_EQ(Run({"operation", "wait", "a", "b"}).code, kExitUsage);
}

TEST_F(CliTest, DeployNamesMissingRequiredFlags) {
  Result r = Run({"instance", "deploy", "--folder", "f"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--name, --model, --config"));
}

TEST_F(CliTest, DeployRejectsBadLabelsNamingTheFlag) {
  for (const char* labels : {"k", "=v", "a=1,k"}) {
    Result r = Run({"instance", "deploy", "--folder", "f", "--name", "n", "--model", "m", "--config", "S",
                    "--labels", labels});
    EXPECT_EQ(r.code, kExitUsage) << labels;
    EXPECT_THAT(r.err, HasSubstr("--labels")) << labels;
  }
}

TEST_F(CliTest, DeployRejectsBadConfigReplicasAndKey) {
  std::vector<std::string> base = {"instance", "deploy", "--folder", "f", "--name", "n", "--model", "m"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  };
  EXPECT_THAT(with({"--config", "XL"}).err, HasSubstr("--config"));
  EXPECT_THAT(with({"--config", "S", "--replicas", "0"}).err, HasSubstr("--replicas"));
  EXPECT_THAT(with({"--config", "S", "--replicas", "two"}).err, HasSubstr("--replicas"));
  Result r = with({"--config", "S", "--idempotency-key", "not-a-uuid"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--idempotency-key"));
}

TEST_F(CliTest, UpdateWithoutFlagsIsUsageError) {
  Result r = Run({"instance", "update", "inst-1"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("nothing to update"));
  // --wait alone changes nothing either.
  EXPECT_EQ(Run({"instance", "update", "inst-1", "--wait"}).code, kExitUsage);
}

TEST_F(CliTest, UpdateRejectsBadConfigAndReplicas) {
  Result r = Run({"instance", "update", "inst-1", "--config", "XL"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--config"));
  r = Run({"instance", "update", "inst-1", "--replicas", "0"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--replicas"));
}

TEST_F(CliTest, UpdateRejectsBadLabels) {
  Result r = Run({"instance", "update", "inst-1", "--labels", "k"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--labels"));
}

TEST_F(CliTest, ListRequiresFolder) {
  Result r = Run({"instance", "list"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--folder"));
}

}  // namespace
}  // namespace dedicated::dictl
