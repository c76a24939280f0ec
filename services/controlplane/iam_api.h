#pragma once
// ResourceService, ServiceAccountService, ApiKeyService and AccessBindingService logic. Runs after the
// RPC edge authenticated and authorized the call (authorizer.h); what is left here is validation, the
// rule that a caller may only grant or revoke roles it holds itself, list filtering by visibility, and
// the writes. Every write bumps iam_state.version and refreshes the IAM cache before it returns, so the
// caller's next call is judged by the new state (a deleted key fails on the very next call).

#include "absl/status/statusor.h"
#include "dedicated/v1/access_binding_service.pb.h"
#include "dedicated/v1/api_key_service.pb.h"
#include "dedicated/v1/operation.pb.h"
#include "dedicated/v1/resource_service.pb.h"
#include "services/common/clock.h"
#include "services/controlplane/iam_cache.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

// At most this many bindings in a Set or deltas in an Update (issue 3).
inline constexpr int kMaxAccessBindingChanges = 1000;

class IamApi {
 public:
  IamApi(IamCache* cache, const Clock* clock) : cache_(cache), clock_(clock) {}

  absl::StatusOr<v1::Cloud> GetCloud(DbSession& db, const RequestContext& rc, const v1::GetCloudRequest& req);
  absl::StatusOr<v1::ListCloudsResponse> ListClouds(DbSession& db, const RequestContext& rc,
                                                    const v1::ListCloudsRequest& req);
  absl::StatusOr<v1::Operation> CreateCloud(DbSession& db, const RequestContext& rc,
                                            const v1::CreateCloudRequest& req);
  absl::StatusOr<v1::Folder> GetFolder(DbSession& db, const RequestContext& rc, const v1::GetFolderRequest& req);
  absl::StatusOr<v1::ListFoldersResponse> ListFolders(DbSession& db, const RequestContext& rc,
                                                      const v1::ListFoldersRequest& req);
  absl::StatusOr<v1::Operation> CreateFolder(DbSession& db, const RequestContext& rc,
                                             const v1::CreateFolderRequest& req);

  absl::StatusOr<v1::ServiceAccount> GetServiceAccount(DbSession& db, const RequestContext& rc,
                                                       const v1::GetServiceAccountRequest& req);
  absl::StatusOr<v1::ListServiceAccountsResponse> ListServiceAccounts(DbSession& db, const RequestContext& rc,
                                                                      const v1::ListServiceAccountsRequest& req);
  absl::StatusOr<v1::ServiceAccount> CreateServiceAccount(DbSession& db, const RequestContext& rc,
                                                          const v1::CreateServiceAccountRequest& req);

  absl::StatusOr<v1::UserAccount> GetUserAccount(DbSession& db, const RequestContext& rc,
                                                 const v1::GetUserAccountRequest& req);
  absl::StatusOr<v1::ListUserAccountsResponse> ListUserAccounts(DbSession& db, const RequestContext& rc,
                                                                const v1::ListUserAccountsRequest& req);
  absl::StatusOr<v1::UserAccount> CreateUserAccount(DbSession& db, const RequestContext& rc,
                                                    const v1::CreateUserAccountRequest& req);

  absl::StatusOr<v1::CreateApiKeyResponse> CreateApiKey(DbSession& db, const RequestContext& rc,
                                                        const v1::CreateApiKeyRequest& req);
  absl::StatusOr<v1::ListApiKeysResponse> ListApiKeys(DbSession& db, const RequestContext& rc,
                                                      const v1::ListApiKeysRequest& req);
  absl::StatusOr<v1::DeleteApiKeyResponse> DeleteApiKey(DbSession& db, const RequestContext& rc,
                                                        const v1::DeleteApiKeyRequest& req);

  absl::StatusOr<v1::ListAccessBindingsResponse> ListAccessBindings(DbSession& db, const RequestContext& rc,
                                                                    const v1::ListAccessBindingsRequest& req);
  absl::StatusOr<v1::Operation> SetAccessBindings(DbSession& db, const RequestContext& rc,
                                                  const v1::SetAccessBindingsRequest& req);
  absl::StatusOr<v1::Operation> UpdateAccessBindings(DbSession& db, const RequestContext& rc,
                                                     const v1::UpdateAccessBindingsRequest& req);

 private:
  // After a committed IAM write: make this controlplane see it now.
  void Refreshed(DbSession& db);

  IamCache* cache_;
  const Clock* clock_;
};

}  // namespace dedicated::controlplane
