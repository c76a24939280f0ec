#pragma once
// Roles and the permissions they grant (design.md §4, issue 3). Deny by default: a permission is
// granted only by a role that lists it, directly or through a role it includes.
//
//   ai.models.viewer        read instances, operations, usage
//   ai.models.editor        + create/update/delete/start/stop instances, cancel operations
//   ai.models.admin         + manage access bindings
//   ai.languageModels.user  call models through the gateway (nothing else)
//   viewer / editor / admin primitive roles, each including the matching ai.models.* role; viewer also
//                           reads service accounts and bindings, editor manages service accounts and
//                           their keys and calls models, admin creates folders in a cloud
// Every role lets its holder see the cloud or folder it is bound on (resourcemanager.get).
//
// Which permission each RPC needs, and on what, is the table in services/controlplane/authz_table.cc.

#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace dedicated::iam {

// Permission names, checked on a folder (or its cloud).
inline constexpr char kInstancesGet[] = "ai.instances.get";
inline constexpr char kInstancesList[] = "ai.instances.list";
inline constexpr char kInstancesCreate[] = "ai.instances.create";
inline constexpr char kInstancesUpdate[] = "ai.instances.update";
inline constexpr char kInstancesDelete[] = "ai.instances.delete";
inline constexpr char kInstancesStart[] = "ai.instances.start";
inline constexpr char kInstancesStop[] = "ai.instances.stop";
inline constexpr char kOperationsGet[] = "ai.operations.get";
inline constexpr char kOperationsCancel[] = "ai.operations.cancel";
inline constexpr char kUsageGet[] = "ai.usage.get";
inline constexpr char kAccessBindingsList[] = "ai.accessBindings.list";
inline constexpr char kAccessBindingsUpdate[] = "ai.accessBindings.update";
inline constexpr char kLanguageModelsCall[] = "ai.languageModels.call";
inline constexpr char kResourcesGet[] = "resourcemanager.get";
inline constexpr char kResourcesManage[] = "resourcemanager.manage";
inline constexpr char kServiceAccountsGet[] = "iam.serviceAccounts.get";
inline constexpr char kServiceAccountsManage[] = "iam.serviceAccounts.manage";
inline constexpr char kApiKeysManage[] = "iam.apiKeys.manage";

// The role ids a binding may name.
const std::vector<std::string>& KnownRoles();
bool IsKnownRole(absl::string_view role_id);

// Every permission `role_id` grants (empty for an unknown role).
const std::set<std::string>& PermissionsOf(absl::string_view role_id);

// True if any of `role_ids` grants `permission`.
bool Grants(const std::vector<std::string>& role_ids, absl::string_view permission);

// True if `role_ids` together grant every permission of `role_id`: a caller may only hand out what it
// holds itself (so ai.models.admin cannot make anyone, itself included, a primitive admin).
bool GrantsAllOf(const std::vector<std::string>& role_ids, absl::string_view role_id);

}  // namespace dedicated::iam
