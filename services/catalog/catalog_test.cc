#include "services/catalog/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dedicated::catalog {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Catalog> Embedded() {
  auto c = Catalog::FromText(EmbeddedCatalogText());
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(Catalog, EmbeddedCatalogHasTheSevenModelsOfTheDesign) {
  auto c = Embedded();
  std::vector<std::string> ids;
  for (const auto& m : c->models()) ids.push_back(m.id());
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("qwen2.5-vl-32b-instruct", "qwen2.5-7b-instruct", "gemma-3-4b-it",
                                                   "gemma-3-12b-it", "gpt-oss-20b", "gpt-oss-120b",
                                                   "t-pro-it-2.0-fp8"));
  EXPECT_EQ(c->Find("gemma-3-4b-it")->model().context_length(), 131072);
  EXPECT_EQ(c->Find("gemma-3-12b-it")->model().context_length(), 65536);
  EXPECT_EQ(c->Find("qwen2.5-7b-instruct")->model().license(), "Qwen License");
}

TEST(Catalog, PublicPricesMatchThePriceList) {
  auto c = Embedded();
  EXPECT_EQ(c->FindConfiguration("gemma-3-4b-it", "S")->price_per_hour().units(), 402);
  EXPECT_EQ(c->FindConfiguration("gemma-3-4b-it", "M")->price_per_hour().units(), 804);
  EXPECT_EQ(c->FindConfiguration("gemma-3-4b-it", "L")->price_per_hour().units(), 1206);
  EXPECT_EQ(c->FindConfiguration("gpt-oss-120b", "L")->price_per_hour().units(), 2412);
  EXPECT_EQ(c->FindConfiguration("gemma-3-4b-it", "XL"), nullptr);
}

TEST(Catalog, GptOssIsRefusedFromItsCutoff) {
  auto c = Embedded();
  absl::Time before = absl::FromCivil(absl::CivilSecond(2025, 11, 1, 0, 0, 0), absl::UTCTimeZone());
  absl::Time after = absl::FromCivil(absl::CivilSecond(2025, 11, 10, 12, 0, 0), absl::UTCTimeZone());
  EXPECT_TRUE(c->CheckDeployable("gpt-oss-20b", before).ok());
  absl::Status s = c->CheckDeployable("gpt-oss-120b", after);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("gpt-oss-120b"));
  EXPECT_TRUE(c->CheckDeployable("gemma-3-4b-it", after).ok());
}

TEST(Catalog, EngineCommandsAreFilledFromTheCatalog) {
  auto c = Embedded();
  auto cmds = c->EngineCommands("gemma-3-12b-it", "M", "dedicated://f/i,i");
  ASSERT_EQ(cmds.size(), 2u);
  const auto& vllm = cmds[1].engine_kind() == "vllm" ? cmds[1] : cmds[0];
  std::vector<std::string> argv(vllm.argv().begin(), vllm.argv().end());
  EXPECT_THAT(argv, ::testing::Contains("google/gemma-3-12b-it"));
  auto tp = std::find(argv.begin(), argv.end(), "--tensor-parallel-size");
  ASSERT_NE(tp, argv.end());
  EXPECT_EQ(*(tp + 1), "2");
  EXPECT_THAT(argv, ::testing::Contains("{port}")) << "left for the agent";
  auto names = std::find(argv.begin(), argv.end(), "--served-model-name");
  ASSERT_NE(names, argv.end());
  EXPECT_EQ(*(names + 1), "dedicated://f/i");
  EXPECT_EQ(*(names + 2), "i") << "vLLM takes one argument per served name";
  const auto& sim = cmds[0].engine_kind() == "engine-sim" ? cmds[0] : cmds[1];
  std::vector<std::string> sim_argv(sim.argv().begin(), sim.argv().end());
  EXPECT_THAT(sim_argv, ::testing::Contains("dedicated://f/i,i"));
}

TEST(Catalog, RejectsWrongPriceRatio) {
  std::string text = R"pb(
    models {
      model {
        id: "m" context_length: 10
        configurations { name: "S" gpu_type: "g" gpu_count: 1 max_concurrency: 1 sku_id: "a" price_per_hour { units: 100 } }
        configurations { name: "M" gpu_type: "g" gpu_count: 1 max_concurrency: 1 sku_id: "b" price_per_hour { units: 150 } }
        configurations { name: "L" gpu_type: "g" gpu_count: 1 max_concurrency: 1 sku_id: "c" price_per_hour { units: 300 } }
      }
      sim_profiles { key: "S" value {} } sim_profiles { key: "M" value {} } sim_profiles { key: "L" value {} }
    })pb";
  auto c = Catalog::FromText(text);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("1:2:3"));
}

TEST(Catalog, ParseErrorsCarryTheLine) {
  auto c = Catalog::FromText("models {\n  model { id: \"x\" bogus_field: 1 }\n}\n");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("line 2"));
}

}  // namespace
}  // namespace dedicated::catalog
