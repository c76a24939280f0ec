#include "services/controlplane/list_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dedicated::controlplane {
namespace {

using ::testing::HasSubstr;

TEST(ParseInstanceFilter, ParsesConditionsJoinedByAnd) {
  auto f = ParseInstanceFilter(R"(status = "ACTIVE" and model_id='gemma-3-4b-it' AND name = "a AND b")");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->status, "ACTIVE");
  EXPECT_EQ(f->model_id, "gemma-3-4b-it");
  EXPECT_EQ(f->name, "a AND b");
}

TEST(ParseInstanceFilter, EmptyIsNoFilter) {
  auto f = ParseInstanceFilter("  ");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->status.has_value());
}

TEST(ParseInstanceFilter, RejectsWithFieldNamedFilter) {
  for (const char* bad : {"status = ACTIVE", "color = \"red\"", "status = \"BOGUS\"", "name = \"x", "name",
                          "name = \"a\" AND name = \"b\"", "name = \"a\" AND"}) {
    auto f = ParseInstanceFilter(bad);
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(f.status().message()), ::testing::StartsWith("filter: ")) << bad;
  }
}

TEST(ParseInstanceOrder, KnownOrders) {
  EXPECT_EQ(*ParseInstanceOrder(""), InstanceOrder::kCreatedAsc);
  EXPECT_EQ(*ParseInstanceOrder("created_at desc"), InstanceOrder::kCreatedDesc);
  EXPECT_EQ(*ParseInstanceOrder("name"), InstanceOrder::kNameAsc);
  EXPECT_EQ(*ParseInstanceOrder("NAME DESC"), InstanceOrder::kNameDesc);
  EXPECT_THAT(std::string(ParseInstanceOrder("size").status().message()), HasSubstr("order_by"));
}

TEST(PageToken, RoundTripsForTheSameQueryOnly) {
  PageCursor c{"1700000000000000", "din123"};
  std::string token = EncodePageToken(c, "q1");
  auto back = DecodePageToken("page_token", token, "q1");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->sort_key, c.sort_key);
  EXPECT_EQ((*back)->id, c.id);
  auto other = DecodePageToken("page_token", token, "q2");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PageToken, GarbageIsInvalidArgumentNamingTheField) {
  for (const char* bad : {"not-base64!!", "djEfYQ", "AAAA"}) {
    auto r = DecodePageToken("page_token", bad, "q");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()), ::testing::StartsWith("page_token: "));
  }
  auto empty = DecodePageToken("page_token", "", "q");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
}

}  // namespace
}  // namespace dedicated::controlplane
