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

TEST(ParseSubject, AcceptsTheThreeSubjectTypes) {
  absl::StatusOr<v1::Subject> subject = ParseSubject("serviceAccount:ajeb1", "--subject");
  ASSERT_TRUE(subject.ok()) << subject.status();
  EXPECT_EQ(subject->type(), "serviceAccount");
  EXPECT_EQ(subject->id(), "ajeb1");
  EXPECT_EQ(ParseSubject("userAccount:aje9", "--subject")->type(), "userAccount");
  EXPECT_EQ(ParseSubject("system:allAuthenticatedUsers", "--subject")->id(), "allAuthenticatedUsers");
}

TEST(ParseSubject, RejectsMalformedSubjectsNamingTheFlag) {
  for (const char* text : {"", "ajeb1", ":ajeb1", "group:x", "serviceAccount:", "serviceAccount:a b",
                           "system:allUsers", "ServiceAccount:x"}) {
    absl::StatusOr<v1::Subject> subject = ParseSubject(text, "--subject");
    ASSERT_FALSE(subject.ok()) << text;
    EXPECT_EQ(subject.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(subject.status().message(), HasSubstr("--subject: ")) << text;
    EXPECT_THAT(subject.status().message(), HasSubstr("serviceAccount:ID")) << text;
  }
}

TEST(ParseBinding, SplitsRoleAndSubject) {
  absl::StatusOr<v1::AccessBinding> binding = ParseBinding("ai.languageModels.user=serviceAccount:ajeb1");
  ASSERT_TRUE(binding.ok()) << binding.status();
  EXPECT_EQ(binding->role_id(), "ai.languageModels.user");
  EXPECT_EQ(binding->subject().type(), "serviceAccount");
  EXPECT_EQ(binding->subject().id(), "ajeb1");
  for (const char* text : {"ai.languageModels.user", "=userAccount:a", "role=user", "a role=userAccount:a"}) {
    absl::StatusOr<v1::AccessBinding> bad = ParseBinding(text);
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_THAT(bad.status().message(), HasSubstr("--binding")) << text;
  }
}

TEST(ParseKeyLifetime, AcceptsDurationsAndDays) {
  EXPECT_EQ(*ParseKeyLifetime("24h"), absl::Hours(24));
  EXPECT_EQ(*ParseKeyLifetime("90m"), absl::Minutes(90));
  EXPECT_EQ(*ParseKeyLifetime("30d"), absl::Hours(24 * 30));
  for (const char* text : {"", "soon", "0s", "-1h", "0d", "1.5d", "100000d"}) {
    absl::StatusOr<absl::Duration> lifetime = ParseKeyLifetime(text);
    ASSERT_FALSE(lifetime.ok()) << text;
    EXPECT_THAT(lifetime.status().message(), HasSubstr("--expires-in")) << text;
  }
}

TEST(ParseRfc3339, AcceptsOffsetsAndRejectsOtherForms) {
  EXPECT_EQ(*ParseRfc3339("2026-01-31T03:00:00+03:00", "--expires-at"), absl::FromUnixSeconds(1769817600));
  EXPECT_EQ(*ParseRfc3339("2026-01-31T00:00:00Z", "--expires-at"), absl::FromUnixSeconds(1769817600));
  for (const char* text : {"2026-01-31", "tomorrow", "1769817600"}) {
    absl::StatusOr<absl::Time> time = ParseRfc3339(text, "--expires-at");
    ASSERT_FALSE(time.ok()) << text;
    EXPECT_THAT(time.status().message(), HasSubstr("--expires-at")) << text;
  }
}

}  // namespace
}  // namespace dedicated::dictl
