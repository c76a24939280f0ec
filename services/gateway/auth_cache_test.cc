#include "services/gateway/auth_cache.h"

#include <gtest/gtest.h>

#include "services/iam/api_key.h"
#include "services/iam/roles.h"

namespace dedicated::gateway {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// folder-1 in cloud-1; sa-1 may call models in folder-1 with `secret`, which expires at kNow + 60 s if
// `expiring`.
std::shared_ptr<iam::IamSnapshot> World(const std::string& secret, bool bound, bool expiring = false) {
  auto s = std::make_shared<iam::IamSnapshot>();
  s->clouds = {{"cloud-1", true}};
  s->folder_cloud = {{"folder-1", "cloud-1"}, {"folder-2", "cloud-1"}};
  s->accounts["sa-1"] = {iam::kServiceAccount, "folder-1", false};
  std::optional<absl::Time> expiry;
  if (expiring) expiry = kNow + absl::Seconds(60);
  s->keys_by_hash[iam::HashApiKeySecret(secret)] = {"key-1", "sa-1", expiry};
  if (bound) s->bindings["folder-1"] = {{"ai.languageModels.user", iam::kServiceAccount, "sa-1"}};
  s->BuildIndex();
  return s;
}

TEST(AuthCache, AnswersAsTheSnapshotDoes) {
  const std::string secret = iam::NewApiKeySecret();
  auto snapshot = World(secret, /*bound=*/true);
  AuthCache cache;
  for (int i = 0; i < 3; ++i) {  // the first call fills the cache, the others read it
    std::shared_ptr<const iam::Principal> p = cache.Authenticate(snapshot, "Bearer " + secret, kNow);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->subject_id, "sa-1");
    EXPECT_EQ(p->key_id, "key-1");
    EXPECT_TRUE(cache.MayCall(*p, "folder-1"));
    EXPECT_FALSE(cache.MayCall(*p, "folder-2")) << "a binding on folder-1 does not reach its sibling";
  }
  EXPECT_EQ(cache.Authenticate(snapshot, "Bearer dik_wrong", kNow), nullptr);
  EXPECT_EQ(cache.Authenticate(snapshot, "", kNow), nullptr);
  EXPECT_EQ(cache.Authenticate(snapshot, secret, kNow), nullptr) << "no scheme";
}

TEST(AuthCache, ANewSnapshotReplacesEveryCachedAnswer) {
  const std::string secret = iam::NewApiKeySecret();
  AuthCache cache;
  auto granted = World(secret, /*bound=*/true);
  std::shared_ptr<const iam::Principal> p = cache.Authenticate(granted, "Api-Key " + secret, kNow);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(cache.MayCall(*p, "folder-1"));

  // The binding is removed: the next snapshot must answer "no" although "yes" was cached.
  auto unbound = World(secret, /*bound=*/false);
  p = cache.Authenticate(unbound, "Api-Key " + secret, kNow);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(cache.MayCall(*p, "folder-1"));

  // The key is revoked: unknown at once.
  auto revoked = World(iam::NewApiKeySecret(), /*bound=*/true);
  EXPECT_EQ(cache.Authenticate(revoked, "Api-Key " + secret, kNow), nullptr);
}

TEST(AuthCache, ACachedKeyStillExpiresOnTime) {
  const std::string secret = iam::NewApiKeySecret();
  auto snapshot = World(secret, /*bound=*/true, /*expiring=*/true);
  AuthCache cache;
  ASSERT_NE(cache.Authenticate(snapshot, "Bearer " + secret, kNow), nullptr);
  ASSERT_NE(cache.Authenticate(snapshot, "Bearer " + secret, kNow + absl::Seconds(59)), nullptr);
  EXPECT_EQ(cache.Authenticate(snapshot, "Bearer " + secret, kNow + absl::Seconds(60)), nullptr);
  EXPECT_EQ(cache.Authenticate(snapshot, "Bearer " + secret, kNow + absl::Seconds(61)), nullptr);
}

TEST(AuthCache, StaysWithinItsBound) {
  const std::string secret = iam::NewApiKeySecret();
  auto snapshot = World(secret, /*bound=*/true);
  AuthCache cache(/*max_entries=*/2);
  // Three spellings of the same key are three entries; the bound empties the cache instead of growing.
  for (const std::string& header : {"Bearer " + secret, "bearer " + secret, "Api-Key " + secret, "Bearer " + secret}) {
    std::shared_ptr<const iam::Principal> p = cache.Authenticate(snapshot, header, kNow);
    ASSERT_NE(p, nullptr) << header;
    EXPECT_EQ(p->subject_id, "sa-1");
  }
}

}  // namespace
}  // namespace dedicated::gateway
