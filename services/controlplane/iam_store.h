#pragma once
// SQL for identity and access: clouds, folders, accounts, API keys and access bindings, and the load of
// the whole of it into an IamSnapshot. Every write also bumps iam_state.version in the same
// transaction, which is how every controlplane (and, through it, every gateway) learns of the change.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dedicated/v1/access_binding.pb.h"
#include "dedicated/v1/api_key_service.pb.h"
#include "dedicated/v1/resource_service.pb.h"
#include "services/iam/snapshot.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

int64_t ReadIamVersion(pqxx::transaction_base& tx, DbSession& db);
void BumpIamVersion(pqxx::work& tx, DbSession& db);
// Reads everything in one snapshot-consistent transaction (the caller's).
std::shared_ptr<iam::IamSnapshot> LoadIamSnapshot(pqxx::transaction_base& tx, DbSession& db);

// Clouds and folders. Inserts surface unique violations as ALREADY_EXISTS.
absl::Status InsertCloud(pqxx::work& tx, DbSession& db, const v1::Cloud& cloud);
absl::StatusOr<v1::Cloud> LoadCloud(pqxx::transaction_base& tx, DbSession& db, const std::string& id);
std::vector<v1::Cloud> LoadClouds(pqxx::transaction_base& tx, DbSession& db);
absl::Status InsertFolder(pqxx::work& tx, DbSession& db, const v1::Folder& folder);
absl::StatusOr<v1::Folder> LoadFolder(pqxx::transaction_base& tx, DbSession& db, const std::string& id);
std::vector<v1::Folder> LoadFolders(pqxx::transaction_base& tx, DbSession& db, const std::string& cloud_id);

// Accounts. `type` is one of iam::kServiceAccount, kUserAccount, kNodeAgent, kGateway; `folder_id` is set
// for service accounts only.
struct NewAccount {
  std::string id;
  std::string type;
  std::string folder_id;
  std::string name;
  std::string description;
  bool installation_admin = false;
};
absl::Status InsertAccount(pqxx::work& tx, DbSession& db, const NewAccount& account);
absl::StatusOr<v1::ServiceAccount> LoadServiceAccount(pqxx::transaction_base& tx, DbSession& db,
                                                      const std::string& id);
std::vector<v1::ServiceAccount> LoadServiceAccounts(pqxx::transaction_base& tx, DbSession& db,
                                                    const std::string& folder_id);
absl::StatusOr<v1::UserAccount> LoadUserAccount(pqxx::transaction_base& tx, DbSession& db, const std::string& id);
std::vector<v1::UserAccount> LoadUserAccounts(pqxx::transaction_base& tx, DbSession& db);
// Ids of installation admins (bootstrap refuses to make a second one silently).
std::vector<std::string> InstallationAdmins(pqxx::transaction_base& tx, DbSession& db);

// API keys: only the hash of the secret is stored.
absl::Status InsertApiKey(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& account_id,
                          const std::string& secret_hash, const std::string& description,
                          std::optional<absl::Time> expires_at);
std::vector<v1::ApiKey> LoadApiKeys(pqxx::transaction_base& tx, DbSession& db, const std::string& account_id);
// False if no such key.
bool DeleteApiKey(pqxx::work& tx, DbSession& db, const std::string& id);

// Access bindings on one cloud or folder (`is_cloud` says which column holds `resource_id`).
std::vector<v1::AccessBinding> LoadAccessBindings(pqxx::transaction_base& tx, DbSession& db,
                                                  const std::string& resource_id);
void AddAccessBinding(pqxx::work& tx, DbSession& db, const std::string& resource_id, bool is_cloud,
                      const v1::AccessBinding& binding);
void RemoveAccessBinding(pqxx::work& tx, DbSession& db, const std::string& resource_id,
                         const v1::AccessBinding& binding);
void RemoveAllAccessBindings(pqxx::work& tx, DbSession& db, const std::string& resource_id);

}  // namespace dedicated::controlplane
