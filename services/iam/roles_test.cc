#include "services/iam/roles.h"

#include <gtest/gtest.h>

namespace dedicated::iam {
namespace {

TEST(Roles, TheSevenRolesOfTheDesignAreKnown) {
  for (const char* r : {"ai.models.viewer", "ai.models.editor", "ai.models.admin", "ai.languageModels.user", "viewer",
                        "editor", "admin"}) {
    EXPECT_TRUE(IsKnownRole(r)) << r;
  }
  EXPECT_EQ(KnownRoles().size(), 7u);
  EXPECT_FALSE(IsKnownRole("ai.models.superuser"));
  EXPECT_TRUE(PermissionsOf("nope").empty());
}

TEST(Roles, EditorDeploysViewerOnlyReads) {
  EXPECT_TRUE(Grants({"ai.models.editor"}, kInstancesCreate));
  EXPECT_TRUE(Grants({"ai.models.editor"}, kInstancesGet)) << "editor includes viewer";
  EXPECT_FALSE(Grants({"ai.models.viewer"}, kInstancesCreate));
  EXPECT_FALSE(Grants({"ai.models.editor"}, kAccessBindingsUpdate));
  EXPECT_TRUE(Grants({"ai.models.admin"}, kAccessBindingsUpdate));
}

TEST(Roles, LanguageModelsUserOnlyCallsModels) {
  EXPECT_EQ(PermissionsOf("ai.languageModels.user"), (std::set<std::string>{kResourcesGet, kLanguageModelsCall}))
      << "seeing the folder it is bound on, and calling models";
  EXPECT_FALSE(Grants({"ai.models.admin"}, kLanguageModelsCall)) << "managing is not calling";
}

TEST(Roles, PrimitiveRolesIncludeTheMatchingOnes) {
  for (const std::string& p : PermissionsOf("ai.models.viewer")) EXPECT_TRUE(Grants({"viewer"}, p)) << p;
  for (const std::string& p : PermissionsOf("ai.models.editor")) EXPECT_TRUE(Grants({"editor"}, p)) << p;
  for (const std::string& p : PermissionsOf("ai.models.admin")) EXPECT_TRUE(Grants({"admin"}, p)) << p;
  EXPECT_TRUE(Grants({"editor"}, kLanguageModelsCall));
  EXPECT_FALSE(Grants({"viewer"}, kLanguageModelsCall));
  EXPECT_TRUE(Grants({"admin"}, kResourcesManage));
  EXPECT_FALSE(Grants({"editor"}, kResourcesManage));
}

TEST(Roles, NoRolesGrantNothing) { EXPECT_FALSE(Grants({}, kInstancesGet)); }

TEST(Roles, ACallerMayOnlyGrantWhatItHolds) {
  EXPECT_TRUE(GrantsAllOf({"ai.models.admin"}, "ai.models.viewer"));
  EXPECT_TRUE(GrantsAllOf({"ai.models.admin"}, "ai.models.admin"));
  EXPECT_FALSE(GrantsAllOf({"ai.models.admin"}, "admin")) << "no escalation to primitive admin";
  EXPECT_FALSE(GrantsAllOf({"ai.models.admin"}, "ai.languageModels.user"));
  EXPECT_TRUE(GrantsAllOf({"admin"}, "ai.languageModels.user"));
  for (const std::string& role : KnownRoles()) EXPECT_TRUE(GrantsAllOf({"admin"}, role)) << role;
}

}  // namespace
}  // namespace dedicated::iam
