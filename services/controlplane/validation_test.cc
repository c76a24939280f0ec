#include "services/controlplane/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dedicated::controlplane {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ValidateName, AcceptsYandexStyleNames) {
  for (const char* ok : {"a", "my-gemma", "x1", "a-b-c-9", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"}) {
    EXPECT_TRUE(ValidateName("name", ok).ok()) << ok;
  }
}

TEST(ValidateName, RefusesBadNamesNamingTheField) {
  for (const char* bad : {"", "1abc", "-abc", "abc-", "ABC", "a_b", "a.b", "тест",
                          "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"}) {
    absl::Status s = ValidateName("name", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), StartsWith("name: ")) << bad;
  }
}

TEST(ValidateLabels, LimitsCountKeysAndValues) {
  google::protobuf::Map<std::string, std::string> labels;
  labels["env"] = "prod";
  labels["team/ml"] = "a.b@c";
  EXPECT_TRUE(ValidateLabels("labels", labels).ok());
  labels["Bad"] = "x";
  EXPECT_THAT(std::string(ValidateLabels("labels", labels).message()), HasSubstr("labels: key \"Bad\""));
  labels.erase("Bad");
  labels["env"] = std::string(64, 'a');
  EXPECT_EQ(ValidateLabels("labels", labels).code(), absl::StatusCode::kInvalidArgument);
  labels.clear();
  for (int i = 0; i < 65; ++i) labels["k" + std::to_string(i)] = "v";
  absl::Status s = ValidateLabels("labels", labels);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("at most 64"));
}

TEST(ValidatePageSize, DefaultsAndBounds) {
  int64_t out = 0;
  ASSERT_TRUE(ValidatePageSize("page_size", 0, &out).ok());
  EXPECT_EQ(out, 100);
  ASSERT_TRUE(ValidatePageSize("page_size", 1000, &out).ok());
  EXPECT_EQ(out, 1000);
  EXPECT_THAT(std::string(ValidatePageSize("page_size", 1001, &out).message()), StartsWith("page_size: "));
  EXPECT_EQ(ValidatePageSize("page_size", -1, &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateId, RefusesEmptyAndOddCharacters) {
  EXPECT_THAT(std::string(ValidateId("folder_id", "").message()), StartsWith("folder_id: is required"));
  EXPECT_EQ(ValidateId("folder_id", "a b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateId("folder_id", std::string(51, 'a')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateId("folder_id", "default").ok());
}

}  // namespace
}  // namespace dedicated::controlplane
