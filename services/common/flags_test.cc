#include "services/common/flags.h"

#include <cstdlib>

#include <gtest/gtest.h>

namespace dedicated {
namespace {

TEST(FlagSet, ParsesEqualsAndSpaceForms) {
  std::string name = "x";
  int64_t n = 1;
  bool b = false;
  absl::Duration d = absl::Seconds(1);
  FlagSet flags("usage");
  flags.String("name", "", &name, "a name");
  flags.Int("count", "", &n, "a count");
  flags.Bool("verbose", "", &b, "verbose");
  flags.Duration("timeout", "", &d, "timeout");
  ASSERT_TRUE(flags.Parse({"--name=abc", "--count", "7", "--verbose", "--timeout=250ms", "pos"}).ok());
  EXPECT_EQ(name, "abc");
  EXPECT_EQ(n, 7);
  EXPECT_TRUE(b);
  EXPECT_EQ(d, absl::Milliseconds(250));
  EXPECT_EQ(flags.positional(), std::vector<std::string>{"pos"});
}

TEST(FlagSet, UnknownFlagIsNamedInError) {
  FlagSet flags("usage");
  absl::Status s = flags.Parse({"--nope=1"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--nope"), std::string::npos);
}

TEST(FlagSet, BadIntegerNamesTheFlag) {
  int64_t n = 0;
  FlagSet flags("usage");
  flags.Int("count", "", &n, "a count");
  absl::Status s = flags.Parse({"--count=seven"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--count"), std::string::npos);
}

TEST(FlagSet, EnvironmentIsOverriddenByCommandLine) {
  setenv("DI_FLAGS_TEST_VALUE", "from-env", 1);
  std::string v = "default";
  FlagSet flags("usage");
  flags.String("value", "DI_FLAGS_TEST_VALUE", &v, "v");
  ASSERT_TRUE(flags.Parse({}).ok());
  EXPECT_EQ(v, "from-env");
  FlagSet flags2("usage");
  flags2.String("value", "DI_FLAGS_TEST_VALUE", &v, "v");
  ASSERT_TRUE(flags2.Parse({"--value=cli"}).ok());
  EXPECT_EQ(v, "cli");
  unsetenv("DI_FLAGS_TEST_VALUE");
}

TEST(FlagSet, HelpListsFlagsWithEnvAndDefault) {
  std::string v = "127.0.0.1:50051";
  FlagSet flags("usage: thing");
  flags.String("endpoint", "DI_ENDPOINT", &v, "where");
  ASSERT_TRUE(flags.Parse({"--help"}).ok());
  EXPECT_TRUE(flags.help_requested());
  std::string help = flags.Help();
  EXPECT_NE(help.find("--endpoint"), std::string::npos);
  EXPECT_NE(help.find("DI_ENDPOINT"), std::string::npos);
  EXPECT_NE(help.find("127.0.0.1:50051"), std::string::npos);
}

}  // namespace
}  // namespace dedicated
