#pragma once
// Per-folder quotas (issue 4): how many instances, and how many GPUs, a folder may hold. Checked in the
// transaction of Create and Start, after locking the folder row, so that concurrent requests in a folder
// are counted one after the other and cannot overshoot together.

#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "dedicated/v1/operation.pb.h"
#include "dedicated/v1/resource_service.pb.h"
#include "services/catalog/catalog.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

// Locks the folder and refuses with RESOURCE_EXHAUSTED, naming the quota, if `add_instances` more
// instances and `add_gpus` more GPUs would exceed its limits.
absl::Status CheckFolderQuota(pqxx::work& tx, DbSession& db, const catalog::Catalog& catalog,
                              const std::string& folder_id, int64_t add_instances, int64_t add_gpus);

class QuotaApi {
 public:
  explicit QuotaApi(std::shared_ptr<const catalog::Catalog> catalog) : catalog_(std::move(catalog)) {}

  absl::StatusOr<v1::FolderQuota> GetFolderQuota(DbSession& db, const RequestContext& rc,
                                                 const v1::GetFolderQuotaRequest& req);
  absl::StatusOr<v1::Operation> SetFolderQuota(DbSession& db, const RequestContext& rc,
                                               const v1::SetFolderQuotaRequest& req);

 private:
  std::shared_ptr<const catalog::Catalog> catalog_;
};

}  // namespace dedicated::controlplane
