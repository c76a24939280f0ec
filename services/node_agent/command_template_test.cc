#include "services/node_agent/command_template.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dedicated::node_agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TemplateValues Values() {
  TemplateValues v;
  v.host = "10.0.0.5";
  v.port = 20001;
  v.gpu_indices = {0, 2, 5};
  v.engine_sim = "/opt/di/bin/engine-sim";
  return v;
}

TEST(JoinGpuIdsTest, JoinsWithCommasAndEmptyForNoGpus) {
  EXPECT_EQ(JoinGpuIds({0, 2, 5}), "0,2,5");
  EXPECT_EQ(JoinGpuIds({3}), "3");
  EXPECT_EQ(JoinGpuIds({}), "");
}

TEST(SubstituteArgvTest, ReplacesAgentPlaceholdersWholeAndInsideArguments) {
  absl::StatusOr<std::vector<std::string>> argv = SubstituteArgv(
      {"{engine_sim}", "--host", "{host}", "--port", "{port}", "--bind={host}:{port}", "--gpus", "{gpu_ids}"},
      Values());
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(*argv, ElementsAre("/opt/di/bin/engine-sim", "--host", "10.0.0.5", "--port", "20001",
                                 "--bind=10.0.0.5:20001", "--gpus", "0,2,5"));
}

TEST(SubstituteArgvTest, RefusesPlaceholderTheControlplaneLeftUnfilled) {
  absl::StatusOr<std::vector<std::string>> argv =
      SubstituteArgv({"vllm", "serve", "{weights}", "--port", "{port}"}, Values());
  ASSERT_EQ(argv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(argv.status().message(), HasSubstr("{weights}"));
  EXPECT_THAT(argv.status().message(), HasSubstr("argv[2]"));
}

TEST(SubstituteArgvTest, KeepsBracesThatAreNotPlaceholders) {
  absl::StatusOr<std::vector<std::string>> argv = SubstituteArgv(
      {"--override-generation-config", "{\"temperature\": 0.5}", "{}", "{ port }", "{{port}}"}, Values());
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(*argv,
              ElementsAre("--override-generation-config", "{\"temperature\": 0.5}", "{}", "{ port }", "{20001}"));
}

TEST(SubstituteArgvTest, FillsTheCatalogEngineSimTemplateAfterTheControlplane) {
  // The catalog's engine-sim template with the controlplane's values already in place.
  absl::StatusOr<std::vector<std::string>> argv = SubstituteArgv(
      {"{engine_sim}", "--host", "{host}", "--port", "{port}", "--served-model-name", "inst-1,dedicated://f/inst-1",
       "--max-concurrency", "8", "--context-length", "131072", "--ttft-ms", "125", "--inter-token-ms", "11"},
      Values());
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_EQ((*argv)[0], "/opt/di/bin/engine-sim");
  EXPECT_EQ((*argv)[2], "10.0.0.5");
  EXPECT_EQ((*argv)[4], "20001");
  EXPECT_EQ((*argv)[6], "inst-1,dedicated://f/inst-1");
}

TEST(AdaptArgvForEngineTest, SplitsServedModelNamesForVllmOnly) {
  std::vector<std::string> argv = {
      "vllm", "serve", "google/gemma-3-4b-it", "--served-model-name", "inst-1,dedicated://f/inst-1", "--port", "20001"};
  EXPECT_THAT(AdaptArgvForEngine("vllm", argv),
              ElementsAre("vllm", "serve", "google/gemma-3-4b-it", "--served-model-name", "inst-1",
                          "dedicated://f/inst-1", "--port", "20001"));
  EXPECT_EQ(AdaptArgvForEngine("engine-sim", argv), argv);
}

}  // namespace
}  // namespace dedicated::node_agent
