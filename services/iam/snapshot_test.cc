#include "services/iam/snapshot.h"

#include <gtest/gtest.h>

#include "services/iam/api_key.h"
#include "services/iam/roles.h"

namespace dedicated::iam {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// cloud-a: folder-a1, folder-a2; cloud-b: folder-b1. sa-1 lives in folder-a1.
struct World {
  IamSnapshot s;
  std::string secret = NewApiKeySecret();
  std::string expired = NewApiKeySecret();
  World() {
    s.version = 7;
    s.clouds = {{"cloud-a", true}, {"cloud-b", true}};
    s.folder_cloud = {{"folder-a1", "cloud-a"}, {"folder-a2", "cloud-a"}, {"folder-b1", "cloud-b"}};
    s.accounts["sa-1"] = {kServiceAccount, "folder-a1", false};
    s.accounts["sa-2"] = {kServiceAccount, "folder-a1", false};
    s.keys_by_hash[HashApiKeySecret(secret)] = {"key-1", "sa-1", std::nullopt};
    s.keys_by_hash[HashApiKeySecret(expired)] = {"key-2", "sa-1", kNow - absl::Seconds(1)};
  }
  Principal Sa(const std::string& id) { return {id, kServiceAccount, "", false}; }
};

TEST(IamSnapshot, AuthenticatesLiveKeysOnly) {
  World w;
  auto p = w.s.Authenticate("Api-Key " + w.secret, kNow);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->subject_id, "sa-1");
  EXPECT_EQ(p->subject_type, kServiceAccount);
  EXPECT_EQ(p->key_id, "key-1");
  EXPECT_TRUE(w.s.Authenticate("Bearer " + w.secret, kNow).ok());

  for (const std::string& header : std::vector<std::string>{"Api-Key " + w.expired, "Api-Key dik_unknown", "", w.secret}) {
    auto bad = w.s.Authenticate(header, kNow);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated) << header;
    EXPECT_EQ(bad.status().message().find(w.secret), std::string::npos) << "never echoes the secret";
  }
}

TEST(IamSnapshot, CloudBindingsApplyToItsFoldersOnly) {
  World w;
  w.s.bindings["cloud-a"] = {{"ai.models.editor", kServiceAccount, "sa-1"}};
  w.s.BuildIndex();
  EXPECT_TRUE(w.s.Allows(w.Sa("sa-1"), "folder-a1", kInstancesCreate));
  EXPECT_TRUE(w.s.Allows(w.Sa("sa-1"), "folder-a2", kInstancesCreate));
  EXPECT_TRUE(w.s.Allows(w.Sa("sa-1"), "cloud-a", kInstancesCreate));
  EXPECT_FALSE(w.s.Allows(w.Sa("sa-1"), "folder-b1", kInstancesGet)) << "another cloud";
  EXPECT_FALSE(w.s.Allows(w.Sa("sa-2"), "folder-a1", kInstancesGet)) << "another subject";
}

TEST(IamSnapshot, FolderBindingsDoNotReachSiblingsOrTheCloud) {
  World w;
  w.s.bindings["folder-a1"] = {{"ai.models.viewer", kServiceAccount, "sa-1"}};
  w.s.BuildIndex();
  EXPECT_TRUE(w.s.Allows(w.Sa("sa-1"), "folder-a1", kInstancesGet));
  EXPECT_FALSE(w.s.Allows(w.Sa("sa-1"), "folder-a1", kInstancesCreate));
  EXPECT_FALSE(w.s.Allows(w.Sa("sa-1"), "folder-a2", kInstancesGet));
  EXPECT_FALSE(w.s.Allows(w.Sa("sa-1"), "cloud-a", kInstancesGet));
}

TEST(IamSnapshot, AllAuthenticatedUsersCoversAccountsButNotInternalPrincipals) {
  World w;
  w.s.bindings["folder-a1"] = {{"ai.languageModels.user", kSystem, kAllAuthenticatedUsers}};
  w.s.BuildIndex();
  EXPECT_TRUE(w.s.Allows(w.Sa("sa-2"), "folder-a1", kLanguageModelsCall));
  EXPECT_FALSE(w.s.Allows(Principal{"node-1", kNodeAgent, "", false}, "folder-a1", kLanguageModelsCall));
}

TEST(IamSnapshot, ProtoRoundTripKeepsWhatGatewaysNeed) {
  World w;
  w.s.bindings["cloud-a"] = {{"ai.languageModels.user", kServiceAccount, "sa-1"}};
  w.s.BuildIndex();
  auto back = IamSnapshot::FromProto(w.s.ToProto());
  EXPECT_EQ(back->version, 7);
  EXPECT_TRUE(back->Authenticate("Api-Key " + w.secret, kNow).ok());
  EXPECT_FALSE(back->Authenticate("Api-Key " + w.expired, kNow).ok()) << "expiry survives the trip";
  auto p = back->Authenticate("Api-Key " + w.secret, kNow);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(back->Allows(*p, "folder-a2", kLanguageModelsCall));
  EXPECT_FALSE(back->Allows(*p, "folder-b1", kLanguageModelsCall));
  EXPECT_EQ(w.s.ToProto().DebugString().find(w.secret), std::string::npos) << "hashes only";
}

}  // namespace
}  // namespace dedicated::iam
