#include "services/controlplane/quota.h"

#include "absl/strings/str_cat.h"
#include "services/common/ids.h"
#include "services/common/status_macros.h"
#include "services/controlplane/idempotent_mutation.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/row_codec.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

constexpr Sql kLockFolder{"quota_lock_folder", "SELECT id FROM folders WHERE id = $1 FOR UPDATE"};
constexpr Sql kFolderExists{"quota_folder_exists", "SELECT id FROM folders WHERE id = $1"};
constexpr Sql kSelectQuota{"quota_select",
                           "SELECT max_instances, max_gpus FROM folder_quotas WHERE folder_id = $1"};
// Live instances, and those of them that hold or are getting GPUs.
constexpr Sql kSelectUsage{"quota_usage", R"sql(
  SELECT model_id, configuration, replica_count, status NOT IN ('STOPPED', 'ERROR')
  FROM instances WHERE folder_id = $1 AND deleted_at IS NULL)sql"};
constexpr Sql kUpsertQuota{"quota_upsert", R"sql(
  INSERT INTO folder_quotas (folder_id, max_instances, max_gpus) VALUES ($1, $2, $3)
  ON CONFLICT (folder_id) DO UPDATE SET max_instances = $2, max_gpus = $3, updated_at = now())sql"};

std::optional<int64_t> OptionalInt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

// The folder's limits and usage (the folder row must exist; NOT_FOUND otherwise).
absl::StatusOr<v1::FolderQuota> ReadQuota(pqxx::transaction_base& tx, DbSession& db, const catalog::Catalog& catalog,
                                          const std::string& folder_id, bool lock) {
  if (lock && db.Exec(tx, kLockFolder, folder_id).empty()) {
    return absl::NotFoundError(absl::StrCat("folder ", folder_id, " not found"));
  }
  v1::FolderQuota q;
  q.set_folder_id(folder_id);
  pqxx::result limits = db.Exec(tx, kSelectQuota, folder_id);
  if (!limits.empty()) {
    if (auto v = OptionalInt(limits[0][0])) q.set_max_instances(*v);
    if (auto v = OptionalInt(limits[0][1])) q.set_max_gpus(*v);
  }
  for (const pqxx::row& r : db.Exec(tx, kSelectUsage, folder_id)) {
    q.set_used_instances(q.used_instances() + 1);
    if (!r[3].as<bool>()) continue;
    const auto* config = catalog.FindConfiguration(r[0].as<std::string>(), r[1].as<std::string>());
    if (config != nullptr) q.set_used_gpus(q.used_gpus() + r[2].as<int64_t>() * config->gpu_count());
  }
  return q;
}

}  // namespace

absl::Status CheckFolderQuota(pqxx::work& tx, DbSession& db, const catalog::Catalog& catalog,
                              const std::string& folder_id, int64_t add_instances, int64_t add_gpus) {
  // A folder without limits needs no count and no folder lock: Creates in one folder then run in
  // parallel (the lock serialised them at ~70/s). A quota set concurrently applies from the next request.
  pqxx::result limits = db.Exec(tx, kSelectQuota, folder_id);
  if (limits.empty() || (limits[0][0].is_null() && limits[0][1].is_null())) {
    if (db.Exec(tx, kFolderExists, folder_id).empty()) {
      return absl::NotFoundError(absl::StrCat("folder ", folder_id, " not found"));
    }
    return absl::OkStatus();
  }
  DI_ASSIGN_OR_RETURN(v1::FolderQuota q, ReadQuota(tx, db, catalog, folder_id, /*lock=*/true));
  if (q.has_max_instances() && add_instances > 0 && q.used_instances() + add_instances > q.max_instances()) {
    return absl::ResourceExhaustedError(absl::StrCat("quota max_instances of folder ", folder_id, " exceeded: ",
                                                     q.used_instances(), " of ", q.max_instances(),
                                                     " instances exist; delete one or ask an admin to raise it"));
  }
  if (q.has_max_gpus() && add_gpus > 0 && q.used_gpus() + add_gpus > q.max_gpus()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "quota max_gpus of folder ", folder_id, " exceeded: ", q.used_gpus(), " of ", q.max_gpus(),
        " GPUs in use and this needs ", add_gpus, " more; stop an instance or ask an admin to raise it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::FolderQuota> QuotaApi::GetFolderQuota(DbSession& db, const RequestContext&,
                                                         const v1::GetFolderQuotaRequest& req) {
  v1::FolderQuota out;
  DI_RETURN_IF_ERROR(db.InTransaction("get quota", [&](pqxx::work& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(out, ReadQuota(tx, s, *catalog_, req.folder_id(), /*lock=*/false));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Operation> QuotaApi::SetFolderQuota(DbSession& db, const RequestContext& rc,
                                                       const v1::SetFolderQuotaRequest& req) {
  if (req.has_max_instances() && req.max_instances() < 0) {
    return absl::InvalidArgumentError("max_instances: must be 0 or more (leave it unset for no limit)");
  }
  if (req.has_max_gpus() && req.max_gpus() < 0) {
    return absl::InvalidArgumentError("max_gpus: must be 0 or more (leave it unset for no limit)");
  }
  return IdempotentMutation(
      db, rc, "dedicated.v1.ResourceService/SetFolderQuota", req,
      [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
        std::optional<int64_t> max_instances, max_gpus;
        if (req.has_max_instances()) max_instances = req.max_instances();
        if (req.has_max_gpus()) max_gpus = req.max_gpus();
        s.Exec(tx, kUpsertQuota, req.folder_id(), max_instances, max_gpus);
        DI_ASSIGN_OR_RETURN(v1::FolderQuota q, ReadQuota(tx, s, *catalog_, req.folder_id(), /*lock=*/false));
        v1::SetFolderQuotaMetadata md;
        md.set_folder_id(req.folder_id());
        return InsertOperation(tx, s,
                               NewOperation{.id = NewId("dop"),
                                            .kind = "SetFolderQuota",
                                            .description = absl::StrCat("Set quota of folder ", req.folder_id()),
                                            .instance_id = "",
                                            .resource_id = req.folder_id(),
                                            .created_by = rc.subject_id,
                                            .metadata = PackAny(md),
                                            .response = PackAny(q),
                                            .timeout = absl::ZeroDuration()});
      });
}

}  // namespace dedicated::controlplane
