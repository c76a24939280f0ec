#include "services/dictl/args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dedicated::dictl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(ParseLabels, SplitsPairsAndTrimsWhitespace) {
  auto labels = ParseLabels("env=prod, team = ml,empty=");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("empty", ""), Pair("env", "prod"), Pair("team", "ml")));
}

TEST(ParseLabels, EmptyTextIsNoLabels) {
  auto labels = ParseLabels("");
  ASSERT_TRUE(labels.ok());
  EXPECT_TRUE(labels->empty());
}

TEST(ParseLabels, ValueMayContainEquals) {
  auto labels = ParseLabels("expr=a=b");
  ASSERT_TRUE(labels.ok());
  EXPECT_THAT(*labels, ElementsAre(Pair("expr", "a=b")));
}

TEST(ParseLabels, RejectsKeyWithoutValueNamingTheFlag) {
  auto labels = ParseLabels("k");
  ASSERT_FALSE(labels.ok());
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(labels.status().message(), HasSubstr("--labels"));
  EXPECT_THAT(labels.status().message(), HasSubstr("\"k\""));
}

TEST(ParseLabels, RejectsEmptyKeyNamingTheFlag) {
  auto labels = ParseLabels("=v");
  ASSERT_FALSE(labels.ok());
  EXPECT_THAT(labels.status().message(), HasSubstr("--labels"));
  EXPECT_THAT(labels.status().message(), HasSubstr("empty key"));
}

TEST(ParseLabels, RejectsDuplicateKeysAndEmptyPairs) {
  EXPECT_FALSE(ParseLabels("a=1,a=2").ok());
  EXPECT_FALSE(ParseLabels("a=1,,b=2").ok());
}

TEST(ParseConfiguration, AcceptsSizesInAnyCase) {
  EXPECT_EQ(*ParseConfiguration("s"), "S");
  EXPECT_EQ(*ParseConfiguration("M"), "M");
  EXPECT_EQ(*ParseConfiguration("l"), "L");
}

TEST(ParseConfiguration, RejectsOtherSizesNamingTheFlag) {
  auto config = ParseConfiguration("XL");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("--config"));
}

TEST(IsUuid, AcceptsCanonicalFormOnly) {
  EXPECT_TRUE(IsUuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_TRUE(IsUuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
  EXPECT_FALSE(IsUuid("0f8fad5bd9cb469fa16570867728950e"));
  EXPECT_FALSE(IsUuid("0f8fad5b-d9cb-469f-a165-70867728950"));
  EXPECT_FALSE(IsUuid("0f8fad5b-d9cb-469f-a165-70867728950g"));
}

TEST(ExpectPositional, NamesMissingAndExtraArguments) {
  EXPECT_TRUE(ExpectPositional({"id"}, {"INSTANCE_ID"}).ok());
  EXPECT_THAT(ExpectPositional({}, {"INSTANCE_ID"}).message(), HasSubstr("missing argument INSTANCE_ID"));
  EXPECT_THAT(ExpectPositional({"a", "b"}, {"INSTANCE_ID"}).message(),
              HasSubstr("unexpected argument \"b\""));
}

TEST(RequireFlags, NamesEveryMissingFlag) {
  absl::Status status = RequireFlags({{"folder", ""}, {"name", "x"}, {"model", ""}});
  EXPECT_THAT(status.message(), HasSubstr("--folder, --model"));
  EXPECT_TRUE(RequireFlags({{"folder", "f"}}).ok());
}

}  // namespace
}  // namespace dedicated::dictl
