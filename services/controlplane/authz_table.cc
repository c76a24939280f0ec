#include "services/controlplane/authz_table.h"

#include "absl/container/flat_hash_map.h"
#include "services/iam/roles.h"

namespace dedicated::controlplane {

using T = AuthzTarget;
namespace p = ::dedicated::iam;

const std::vector<AuthzRule>& AuthzRules() {
  static const auto* rules = new std::vector<AuthzRule>{
      {"InstanceService.Get", p::kInstancesGet, T::kInstance, "instance_id"},
      {"InstanceService.List", p::kInstancesList, T::kFolder, "folder_id"},
      {"InstanceService.Create", p::kInstancesCreate, T::kFolder, "folder_id"},
      {"InstanceService.Update", p::kInstancesUpdate, T::kInstance, "instance_id"},
      {"InstanceService.Delete", p::kInstancesDelete, T::kInstance, "instance_id"},
      {"InstanceService.Start", p::kInstancesStart, T::kInstance, "instance_id"},
      {"InstanceService.Stop", p::kInstancesStop, T::kInstance, "instance_id"},
      {"InstanceService.ListOperations", p::kOperationsGet, T::kInstance, "instance_id"},

      {"OperationService.Get", p::kOperationsGet, T::kOperation, "operation_id"},
      {"OperationService.Cancel", p::kOperationsCancel, T::kOperation, "operation_id"},

      {"ModelService.Get", "", T::kAuthenticated, ""},
      {"ModelService.List", "", T::kAuthenticated, ""},

      {"AccessBindingService.ListAccessBindings", p::kAccessBindingsList, T::kCloudOrFolder, "resource_id"},
      {"AccessBindingService.SetAccessBindings", p::kAccessBindingsUpdate, T::kCloudOrFolder, "resource_id"},
      {"AccessBindingService.UpdateAccessBindings", p::kAccessBindingsUpdate, T::kCloudOrFolder, "resource_id"},

      {"BillingService.GetUsage", p::kUsageGet, T::kFolder, "folder_id"},
      {"BillingService.ListUsageRecords", p::kUsageGet, T::kFolder, "folder_id"},

      {"NodeService.Register", "", T::kNodeAgent, ""},
      {"NodeService.Heartbeat", "", T::kNodeAgent, ""},
      {"NodeService.WatchAssignments", "", T::kNodeAgent, ""},
      {"NodeService.ReportReplicaStatus", "", T::kNodeAgent, ""},

      {"NodeAdminService.Get", "", T::kInstallationAdmin, ""},
      {"NodeAdminService.List", "", T::kInstallationAdmin, ""},
      {"NodeAdminService.Drain", "", T::kInstallationAdmin, ""},
      {"NodeAdminService.Undrain", "", T::kInstallationAdmin, ""},

      {"ResourceService.GetCloud", p::kResourcesGet, T::kCloud, "cloud_id"},
      // Lists show only what the caller may see (filtered by the handler with the same snapshot).
      {"ResourceService.ListClouds", "", T::kAuthenticated, ""},
      {"ResourceService.CreateCloud", "", T::kInstallationAdmin, ""},
      {"ResourceService.GetFolder", p::kResourcesGet, T::kFolder, "folder_id"},
      {"ResourceService.ListFolders", "", T::kAuthenticated, ""},
      {"ResourceService.CreateFolder", p::kResourcesManage, T::kCloud, "cloud_id"},
      {"ResourceService.GetFolderQuota", p::kResourcesGet, T::kFolder, "folder_id"},
      {"ResourceService.SetFolderQuota", "", T::kInstallationAdmin, ""},

      {"ServiceAccountService.Get", p::kServiceAccountsGet, T::kAccount, "service_account_id"},
      {"ServiceAccountService.List", p::kServiceAccountsGet, T::kFolder, "folder_id"},
      {"ServiceAccountService.Create", p::kServiceAccountsManage, T::kFolder, "folder_id"},

      {"UserAccountService.Get", "", T::kSelfOrInstallationAdmin, "user_account_id"},
      {"UserAccountService.List", "", T::kInstallationAdmin, ""},
      {"UserAccountService.Create", "", T::kInstallationAdmin, ""},

      {"ApiKeyService.Create", p::kApiKeysManage, T::kAccount, "subject_id"},
      {"ApiKeyService.List", p::kServiceAccountsGet, T::kAccount, "subject_id"},
      {"ApiKeyService.Delete", p::kApiKeysManage, T::kApiKey, "api_key_id"},

      {"AccessSnapshotService.Watch", "", T::kGateway, ""},
      {"RouteService.Watch", "", T::kGateway, ""},
  };
  return *rules;
}

const AuthzRule* FindAuthzRule(absl::string_view method) {
  static const auto* index = [] {
    auto* m = new absl::flat_hash_map<std::string_view, const AuthzRule*>();
    for (const AuthzRule& r : AuthzRules()) (*m)[r.method] = &r;
    return m;
  }();
  auto it = index->find(std::string_view(method.data(), method.size()));
  return it == index->end() ? nullptr : it->second;
}

}  // namespace dedicated::controlplane
