#include "services/gateway/model_ref.h"

#include <gtest/gtest.h>

namespace dedicated::gateway {
namespace {

TEST(ModelRefTest, AcceptsModelUri) {
  auto ref = ParseModelRef("dedicated://b1gfolder/dinst123");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->instance_id, "dinst123");
  ASSERT_TRUE(ref->folder_id.has_value());
  EXPECT_EQ(*ref->folder_id, "b1gfolder");
}

TEST(ModelRefTest, AcceptsBareInstanceId) {
  auto ref = ParseModelRef("dinst123");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->instance_id, "dinst123");
  EXPECT_FALSE(ref->folder_id.has_value());
}

TEST(ModelRefTest, RefusesWhatCannotNameAnInstance) {
  for (const char* bad : {"", "dedicated://", "dedicated://folder", "dedicated://folder/", "dedicated:///inst",
                          "dedicated://f/i/extra", "gpt://folder/model", "gemma 3", "a/b", "inst\n"}) {
    EXPECT_FALSE(ParseModelRef(bad).has_value()) << bad;
  }
  EXPECT_FALSE(ParseModelRef(std::string(65, 'a')).has_value());
}

}  // namespace
}  // namespace dedicated::gateway
