#include "services/engine_sim/options.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "services/common/flags.h"

namespace dedicated::engine_sim {
namespace {

absl::StatusOr<Options> Parse(const std::vector<std::string>& args) {
  FlagValues values;
  FlagSet flags(kUsage);
  RegisterFlags(flags, values);
  if (absl::Status s = flags.Parse(args); !s.ok()) return s;
  return ToOptions(values);
}

TEST(OptionsTest, DefaultsMatchTheDocumentedOnes) {
  absl::StatusOr<Options> o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, 8000);
  EXPECT_EQ(o->served_model_names, std::vector<std::string>{"engine-sim"});
  EXPECT_EQ(o->max_concurrency, 8);
  EXPECT_EQ(o->context_length, 32768);
  EXPECT_EQ(o->ttft, absl::Milliseconds(100));
  EXPECT_EQ(o->inter_token, absl::Milliseconds(20));
  EXPECT_DOUBLE_EQ(o->slowdown, 0.05);
  EXPECT_EQ(o->startup_delay, absl::ZeroDuration());
  EXPECT_EQ(o->default_max_tokens, 16);
  EXPECT_EQ(o->threads, 2);
}

TEST(OptionsTest, ParsesEveryFlag) {
  absl::StatusOr<Options> o = Parse(
      {"--host", "0.0.0.0",          "--port=0", "--served-model-name", "a, b,c", "--max-concurrency",
       "3",      "--context-length", "4096",     "--ttft-ms",           "7",      "--inter-token-ms",
       "3",      "--slowdown",       "0.25",     "--startup-delay",     "2s",     "--default-max-tokens",
       "5",      "--threads",        "4"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->host, "0.0.0.0");
  EXPECT_EQ(o->port, 0);
  EXPECT_EQ(o->served_model_names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(o->max_concurrency, 3);
  EXPECT_EQ(o->context_length, 4096);
  EXPECT_EQ(o->ttft, absl::Milliseconds(7));
  EXPECT_EQ(o->inter_token, absl::Milliseconds(3));
  EXPECT_DOUBLE_EQ(o->slowdown, 0.25);
  EXPECT_EQ(o->startup_delay, absl::Seconds(2));
  EXPECT_EQ(o->default_max_tokens, 5);
  EXPECT_EQ(o->threads, 4);
}

TEST(OptionsTest, EnvironmentVariablesAreTheFallback) {
  setenv("DI_ENGINE_SIM_MAX_CONCURRENCY", "5", 1);
  setenv("DI_ENGINE_SIM_SERVED_MODEL_NAME", "from-env", 1);
  absl::StatusOr<Options> o = Parse({"--max-concurrency", "6"});
  unsetenv("DI_ENGINE_SIM_MAX_CONCURRENCY");
  unsetenv("DI_ENGINE_SIM_SERVED_MODEL_NAME");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->max_concurrency, 6);  // The command line wins.
  EXPECT_EQ(o->served_model_names, std::vector<std::string>{"from-env"});
}

TEST(OptionsTest, RejectsBadValuesNamingTheFlag) {
  auto message = [](const std::vector<std::string>& args) {
    return std::string(Parse(args).status().message());
  };
  EXPECT_NE(message({"--max-concurrency", "0"}).find("--max-concurrency"), std::string::npos);
  EXPECT_NE(message({"--slowdown", "fast"}).find("--slowdown"), std::string::npos);
  EXPECT_NE(message({"--slowdown", "-1"}).find("--slowdown"), std::string::npos);
  EXPECT_NE(message({"--served-model-name", "a,,b"}).find("--served-model-name"), std::string::npos);
  EXPECT_NE(message({"--port", "70000"}).find("--port"), std::string::npos);
  EXPECT_NE(message({"--default-max-tokens", "0"}).find("--default-max-tokens"), std::string::npos);
}

TEST(OptionsTest, HelpSaysItIsASimulator) {
  FlagValues values;
  FlagSet flags(kUsage);
  RegisterFlags(flags, values);
  std::string help = flags.Help();
  EXPECT_NE(help.find("SIMULATES a GPU inference engine"), std::string::npos);
  EXPECT_NE(help.find("DI_ENGINE_SIM_SERVED_MODEL_NAME"), std::string::npos);
  EXPECT_NE(help.find("--startup-delay"), std::string::npos);
}

}  // namespace
}  // namespace dedicated::engine_sim
