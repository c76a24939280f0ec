#include "services/iam/api_key.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dedicated::iam {
namespace {

TEST(ApiKey, SecretsAreLongRandomAndPrefixed) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string s = NewApiKeySecret();
    EXPECT_EQ(s.rfind(kApiKeyPrefix, 0), 0u);
    EXPECT_EQ(s.size(), 4u + 43u) << "32 bytes of base64url";
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(ApiKey, HashIsStableAndNotTheSecret) {
  std::string s = NewApiKeySecret();
  EXPECT_EQ(HashApiKeySecret(s), HashApiKeySecret(s));
  EXPECT_EQ(HashApiKeySecret(s).size(), 64u);
  EXPECT_EQ(HashApiKeySecret(s).find(s.substr(4)), std::string::npos);
}

TEST(ApiKey, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(ApiKey, AuthorizationSchemes) {
  EXPECT_EQ(*SecretFromAuthorization("Api-Key dik_x"), "dik_x");
  EXPECT_EQ(*SecretFromAuthorization("Bearer dik_y"), "dik_y");
  EXPECT_EQ(*SecretFromAuthorization("bearer   dik_z "), "dik_z");
  for (const char* bad : {"", "dik_x", "Basic dik_x", "Bearer ", "Api-Key"}) {
    auto r = SecretFromAuthorization(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
  auto r = SecretFromAuthorization("Basic supersecretvalue");
  EXPECT_THAT(std::string(r.status().message()), ::testing::Not(::testing::HasSubstr("supersecretvalue")))
      << "errors never echo the secret";
}

}  // namespace
}  // namespace dedicated::iam
