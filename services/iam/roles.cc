#include "services/iam/roles.h"

#include <map>

namespace dedicated::iam {
namespace {

struct RoleDef {
  std::vector<std::string> includes;
  std::vector<std::string> permissions;
};

const std::map<std::string, RoleDef, std::less<>>& Definitions() {
  static const auto* defs = new std::map<std::string, RoleDef, std::less<>>{
      {"ai.models.viewer", {{}, {kResourcesGet, kInstancesGet, kInstancesList, kOperationsGet, kUsageGet}}},
      {"ai.models.editor",
       {{"ai.models.viewer"},
        {kInstancesCreate, kInstancesUpdate, kInstancesDelete, kInstancesStart, kInstancesStop, kOperationsCancel}}},
      {"ai.models.admin", {{"ai.models.editor"}, {kAccessBindingsList, kAccessBindingsUpdate}}},
      {"ai.languageModels.user", {{}, {kResourcesGet, kLanguageModelsCall}}},
      {"viewer", {{"ai.models.viewer"}, {kAccessBindingsList, kServiceAccountsGet}}},
      {"editor", {{"viewer", "ai.models.editor", "ai.languageModels.user"}, {kServiceAccountsManage, kApiKeysManage}}},
      {"admin", {{"editor", "ai.models.admin"}, {kResourcesManage}}},
  };
  return *defs;
}

void Collect(absl::string_view role, std::set<std::string>& out) {
  auto it = Definitions().find(role);
  if (it == Definitions().end()) return;
  out.insert(it->second.permissions.begin(), it->second.permissions.end());
  for (const std::string& included : it->second.includes) Collect(included, out);
}

}  // namespace

const std::vector<std::string>& KnownRoles() {
  static const auto* roles = [] {
    auto* v = new std::vector<std::string>();
    for (const auto& [id, def] : Definitions()) v->push_back(id);
    return v;
  }();
  return *roles;
}

bool IsKnownRole(absl::string_view role_id) { return Definitions().contains(role_id); }

const std::set<std::string>& PermissionsOf(absl::string_view role_id) {
  // Computed once per role: the table is immutable.
  static const auto* expanded = [] {
    auto* m = new std::map<std::string, std::set<std::string>, std::less<>>();
    for (const auto& [id, def] : Definitions()) Collect(id, (*m)[id]);
    return m;
  }();
  static const std::set<std::string> kNone;
  auto it = expanded->find(role_id);
  return it == expanded->end() ? kNone : it->second;
}

bool Grants(const std::vector<std::string>& role_ids, absl::string_view permission) {
  for (const std::string& role : role_ids) {
    if (PermissionsOf(role).contains(std::string(permission))) return true;
  }
  return false;
}

bool GrantsAllOf(const std::vector<std::string>& role_ids, absl::string_view role_id) {
  for (const std::string& permission : PermissionsOf(role_id)) {
    if (!Grants(role_ids, permission)) return false;
  }
  return true;
}

}  // namespace dedicated::iam
