#include "services/controlplane/bootstrap.h"

#include "services/common/ids.h"
#include "services/common/status_macros.h"
#include "services/controlplane/iam_store.h"
#include "services/iam/api_key.h"
#include "services/iam/snapshot.h"

namespace dedicated::controlplane {
namespace {
// Serialises concurrent bootstraps (two up.sh runs at once): the second sees the first's admin.
constexpr int64_t kBootstrapLock = 0x6469626f6f74;  // "diboot"
}  // namespace

absl::StatusOr<BootstrapResult> Bootstrap(storage::DbSession& db) {
  BootstrapResult out;
  DI_RETURN_IF_ERROR(db.InTransaction("bootstrap", [&](pqxx::work& tx, storage::DbSession& s) -> absl::Status {
    out = BootstrapResult();
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kBootstrapLock);
    std::vector<std::string> admins = InstallationAdmins(tx, s);
    if (!admins.empty()) {
      out.admin_account_id = admins.front();
      pqxx::result r = tx.exec_params(
          "SELECT a.folder_id, f.cloud_id FROM accounts a JOIN folders f ON f.id = a.folder_id WHERE a.id = $1",
          out.admin_account_id);
      if (!r.empty()) {
        out.folder_id = r[0][0].as<std::string>();
        out.cloud_id = r[0][1].as<std::string>();
      }
      return absl::OkStatus();
    }
    out.created = true;
    v1::Cloud cloud;
    cloud.set_id(NewId("dcl"));
    cloud.set_name("default");
    cloud.set_description("created by controlplane bootstrap");
    DI_RETURN_IF_ERROR(InsertCloud(tx, s, cloud));
    v1::Folder folder;
    folder.set_id(NewId("dfo"));
    folder.set_cloud_id(cloud.id());
    folder.set_name("default");
    folder.set_description("created by controlplane bootstrap");
    DI_RETURN_IF_ERROR(InsertFolder(tx, s, folder));
    out.cloud_id = cloud.id();
    out.folder_id = folder.id();

    NewAccount admin{.id = NewId("dsa"),
                     .type = iam::kServiceAccount,
                     .folder_id = folder.id(),
                     .name = "admin",
                     .description = "installation admin created by controlplane bootstrap",
                     .installation_admin = true};
    DI_RETURN_IF_ERROR(InsertAccount(tx, s, admin));
    v1::AccessBinding binding;
    binding.set_role_id("admin");
    binding.mutable_subject()->set_type(iam::kServiceAccount);
    binding.mutable_subject()->set_id(admin.id);
    AddAccessBinding(tx, s, cloud.id(), /*is_cloud=*/true, binding);
    out.admin_account_id = admin.id;

    NewAccount node{.id = NewId("dna"),
                    .type = iam::kNodeAgent,
                    .folder_id = "",
                    .name = "node-agents",
                    .description = "credential of the node-agents",
                    .installation_admin = false};
    NewAccount gateway{.id = NewId("dgw"),
                       .type = iam::kGateway,
                       .folder_id = "",
                       .name = "gateways",
                       .description = "credential of the gateways",
                       .installation_admin = false};
    DI_RETURN_IF_ERROR(InsertAccount(tx, s, node));
    DI_RETURN_IF_ERROR(InsertAccount(tx, s, gateway));

    out.admin_secret = iam::NewApiKeySecret();
    out.node_secret = iam::NewApiKeySecret();
    out.gateway_secret = iam::NewApiKeySecret();
    DI_RETURN_IF_ERROR(InsertApiKey(tx, s, NewId("dak"), admin.id, iam::HashApiKeySecret(out.admin_secret),
                                    "bootstrap admin key", std::nullopt));
    DI_RETURN_IF_ERROR(InsertApiKey(tx, s, NewId("dak"), node.id, iam::HashApiKeySecret(out.node_secret),
                                    "bootstrap node-agent key", std::nullopt));
    DI_RETURN_IF_ERROR(InsertApiKey(tx, s, NewId("dak"), gateway.id, iam::HashApiKeySecret(out.gateway_secret),
                                    "bootstrap gateway key", std::nullopt));
    BumpIamVersion(tx, s);
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace dedicated::controlplane
