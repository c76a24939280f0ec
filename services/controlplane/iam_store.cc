#include "services/controlplane/iam_store.h"

#include "absl/strings/str_cat.h"
#include "services/controlplane/row_codec.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

#define DI_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

constexpr Sql kReadVersion{"iam_version", "SELECT version FROM iam_state"};
constexpr Sql kBumpVersion{"iam_bump", "UPDATE iam_state SET version = version + 1"};

constexpr Sql kAllKeys{"iam_all_keys", "SELECT id, account_id, secret_hash, " DI_US("expires_at") " FROM api_keys"};
constexpr Sql kAllAccounts{"iam_all_accounts",
                           "SELECT id, type, coalesce(folder_id, ''), installation_admin FROM accounts"};
constexpr Sql kAllFolders{"iam_all_folders", "SELECT id, cloud_id FROM folders"};
constexpr Sql kAllClouds{"iam_all_clouds", "SELECT id FROM clouds"};
constexpr Sql kAllBindings{"iam_all_bindings",
                           "SELECT resource_id, role_id, subject_type, subject_id FROM access_bindings"};

constexpr Sql kInsertCloud{"cloud_insert", "INSERT INTO clouds (id, name, description) VALUES ($1, $2, $3)"};
constexpr Sql kSelectCloud{"cloud_select",
                           "SELECT id, name, description, " DI_US("created_at") " FROM clouds WHERE id = $1"};
constexpr Sql kSelectClouds{"cloud_select_all",
                            "SELECT id, name, description, " DI_US("created_at") " FROM clouds ORDER BY id"};
constexpr Sql kInsertFolder{"folder_insert",
                            "INSERT INTO folders (id, cloud_id, name, description) VALUES ($1, $2, $3, $4)"};
constexpr Sql kSelectFolder{"folder_select", "SELECT id, cloud_id, name, description, " DI_US(
                                                 "created_at") " FROM folders WHERE id = $1"};
constexpr Sql kSelectFolders{"folder_select_cloud", "SELECT id, cloud_id, name, description, " DI_US(
                                                        "created_at") " FROM folders WHERE cloud_id = $1 ORDER BY id"};

constexpr Sql kInsertAccount{"account_insert", R"sql(
  INSERT INTO accounts (id, type, folder_id, name, description, installation_admin)
  VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6))sql"};
constexpr Sql kSelectServiceAccount{
    "sa_select", "SELECT id, folder_id, name, description, " DI_US(
                     "created_at") " FROM accounts WHERE id = $1 AND type = 'serviceAccount'"};
constexpr Sql kSelectServiceAccounts{
    "sa_select_folder", "SELECT id, folder_id, name, description, " DI_US(
                            "created_at") " FROM accounts WHERE folder_id = $1 AND type = 'serviceAccount' ORDER BY id"};
constexpr Sql kSelectUser{"user_select", "SELECT id, name, description, " DI_US(
                                               "created_at") " FROM accounts WHERE id = $1 AND type = 'userAccount'"};
constexpr Sql kSelectUsers{"user_select_all", "SELECT id, name, description, " DI_US(
                                                  "created_at") " FROM accounts WHERE type = 'userAccount' ORDER BY id"};
constexpr Sql kSelectAdmins{"account_admins", "SELECT id FROM accounts WHERE installation_admin ORDER BY created_at"};

constexpr Sql kInsertKey{"api_key_insert", R"sql(
  INSERT INTO api_keys (id, account_id, secret_hash, description, expires_at)
  VALUES ($1, $2, $3, $4, CASE WHEN $5::bigint > 0 THEN to_timestamp($5::bigint / 1000000.0) END))sql"};
constexpr Sql kSelectKeys{"api_key_select_account", "SELECT id, account_id, description, " DI_US(
                                                        "created_at") ", " DI_US("expires_at") " FROM api_keys "
                                                                                               "WHERE account_id = $1 "
                                                                                               "ORDER BY id"};
constexpr Sql kDeleteKey{"api_key_delete", "DELETE FROM api_keys WHERE id = $1"};

constexpr Sql kSelectBindings{"binding_select", R"sql(
  SELECT role_id, subject_type, subject_id FROM access_bindings WHERE resource_id = $1
  ORDER BY role_id, subject_type, subject_id)sql"};
constexpr Sql kAddBinding{"binding_add", R"sql(
  INSERT INTO access_bindings (cloud_id, folder_id, role_id, subject_type, subject_id)
  VALUES (CASE WHEN $2 THEN $1 END, CASE WHEN $2 THEN NULL ELSE $1 END, $3, $4, $5)
  ON CONFLICT (resource_id, role_id, subject_type, subject_id) DO NOTHING)sql"};
constexpr Sql kRemoveBinding{"binding_remove", R"sql(
  DELETE FROM access_bindings WHERE resource_id = $1 AND role_id = $2 AND subject_type = $3 AND subject_id = $4)sql"};
constexpr Sql kRemoveAllBindings{"binding_remove_all", "DELETE FROM access_bindings WHERE resource_id = $1"};

#undef DI_US

v1::Cloud RowToCloud(const pqxx::row& r) {
  v1::Cloud c;
  c.set_id(r[0].as<std::string>());
  c.set_name(r[1].as<std::string>());
  c.set_description(r[2].as<std::string>());
  SetTimestampMicros(c.mutable_created_at(), r[3].as<int64_t>());
  return c;
}

v1::Folder RowToFolder(const pqxx::row& r) {
  v1::Folder f;
  f.set_id(r[0].as<std::string>());
  f.set_cloud_id(r[1].as<std::string>());
  f.set_name(r[2].as<std::string>());
  f.set_description(r[3].as<std::string>());
  SetTimestampMicros(f.mutable_created_at(), r[4].as<int64_t>());
  return f;
}

v1::ServiceAccount RowToServiceAccount(const pqxx::row& r) {
  v1::ServiceAccount a;
  a.set_id(r[0].as<std::string>());
  a.set_folder_id(r[1].as<std::string>());
  a.set_name(r[2].as<std::string>());
  a.set_description(r[3].as<std::string>());
  SetTimestampMicros(a.mutable_created_at(), r[4].as<int64_t>());
  return a;
}

}  // namespace

int64_t ReadIamVersion(pqxx::transaction_base& tx, DbSession& db) {
  return db.Exec(tx, kReadVersion)[0][0].as<int64_t>();
}

void BumpIamVersion(pqxx::work& tx, DbSession& db) { db.Exec(tx, kBumpVersion); }

std::shared_ptr<iam::IamSnapshot> LoadIamSnapshot(pqxx::transaction_base& tx, DbSession& db) {
  auto s = std::make_shared<iam::IamSnapshot>();
  s->version = ReadIamVersion(tx, db);
  for (const pqxx::row& r : db.Exec(tx, kAllAccounts)) {
    s->accounts[r[0].as<std::string>()] = {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<bool>()};
  }
  for (const pqxx::row& r : db.Exec(tx, kAllKeys)) {
    iam::KeyEntry key{.key_id = r[0].as<std::string>(), .account_id = r[1].as<std::string>(), .expires_at = {}};
    if (!r[3].is_null()) key.expires_at = absl::FromUnixMicros(r[3].as<int64_t>());
    std::string hash = r[2].as<std::string>();
    s->key_hash_by_id[key.key_id] = hash;
    s->keys_by_hash[hash] = std::move(key);
  }
  for (const pqxx::row& r : db.Exec(tx, kAllClouds)) s->clouds[r[0].as<std::string>()] = true;
  for (const pqxx::row& r : db.Exec(tx, kAllFolders)) s->folder_cloud[r[0].as<std::string>()] = r[1].as<std::string>();
  for (const pqxx::row& r : db.Exec(tx, kAllBindings)) {
    s->bindings[r[0].as<std::string>()].push_back(
        {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>()});
  }
  s->BuildIndex();
  return s;
}

absl::Status InsertCloud(pqxx::work& tx, DbSession& db, const v1::Cloud& cloud) {
  db.Exec(tx, kInsertCloud, cloud.id(), cloud.name(), cloud.description());
  return absl::OkStatus();
}

absl::StatusOr<v1::Cloud> LoadCloud(pqxx::transaction_base& tx, DbSession& db, const std::string& id) {
  pqxx::result r = db.Exec(tx, kSelectCloud, id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("cloud ", id, " not found"));
  return RowToCloud(r[0]);
}

std::vector<v1::Cloud> LoadClouds(pqxx::transaction_base& tx, DbSession& db) {
  std::vector<v1::Cloud> out;
  for (const pqxx::row& r : db.Exec(tx, kSelectClouds)) out.push_back(RowToCloud(r));
  return out;
}

absl::Status InsertFolder(pqxx::work& tx, DbSession& db, const v1::Folder& folder) {
  db.Exec(tx, kInsertFolder, folder.id(), folder.cloud_id(), folder.name(), folder.description());
  return absl::OkStatus();
}

absl::StatusOr<v1::Folder> LoadFolder(pqxx::transaction_base& tx, DbSession& db, const std::string& id) {
  pqxx::result r = db.Exec(tx, kSelectFolder, id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("folder ", id, " not found"));
  return RowToFolder(r[0]);
}

std::vector<v1::Folder> LoadFolders(pqxx::transaction_base& tx, DbSession& db, const std::string& cloud_id) {
  std::vector<v1::Folder> out;
  for (const pqxx::row& r : db.Exec(tx, kSelectFolders, cloud_id)) out.push_back(RowToFolder(r));
  return out;
}

absl::Status InsertAccount(pqxx::work& tx, DbSession& db, const NewAccount& a) {
  db.Exec(tx, kInsertAccount, a.id, a.type, a.folder_id, a.name, a.description, a.installation_admin);
  return absl::OkStatus();
}

absl::StatusOr<v1::ServiceAccount> LoadServiceAccount(pqxx::transaction_base& tx, DbSession& db,
                                                      const std::string& id) {
  pqxx::result r = db.Exec(tx, kSelectServiceAccount, id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("service account ", id, " not found"));
  return RowToServiceAccount(r[0]);
}

std::vector<v1::ServiceAccount> LoadServiceAccounts(pqxx::transaction_base& tx, DbSession& db,
                                                    const std::string& folder_id) {
  std::vector<v1::ServiceAccount> out;
  for (const pqxx::row& r : db.Exec(tx, kSelectServiceAccounts, folder_id)) out.push_back(RowToServiceAccount(r));
  return out;
}

namespace {
v1::UserAccount RowToUser(const pqxx::row& r) {
  v1::UserAccount u;
  u.set_id(r[0].as<std::string>());
  u.set_name(r[1].as<std::string>());
  u.set_description(r[2].as<std::string>());
  SetTimestampMicros(u.mutable_created_at(), r[3].as<int64_t>());
  return u;
}
}  // namespace

absl::StatusOr<v1::UserAccount> LoadUserAccount(pqxx::transaction_base& tx, DbSession& db, const std::string& id) {
  pqxx::result r = db.Exec(tx, kSelectUser, id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("user account ", id, " not found"));
  return RowToUser(r[0]);
}

std::vector<v1::UserAccount> LoadUserAccounts(pqxx::transaction_base& tx, DbSession& db) {
  std::vector<v1::UserAccount> out;
  for (const pqxx::row& r : db.Exec(tx, kSelectUsers)) out.push_back(RowToUser(r));
  return out;
}

std::vector<std::string> InstallationAdmins(pqxx::transaction_base& tx, DbSession& db) {
  std::vector<std::string> out;
  for (const pqxx::row& r : db.Exec(tx, kSelectAdmins)) out.push_back(r[0].as<std::string>());
  return out;
}

absl::Status InsertApiKey(pqxx::work& tx, DbSession& db, const std::string& id, const std::string& account_id,
                          const std::string& secret_hash, const std::string& description,
                          std::optional<absl::Time> expires_at) {
  int64_t expires_us = expires_at.has_value() ? absl::ToUnixMicros(*expires_at) : 0;
  db.Exec(tx, kInsertKey, id, account_id, secret_hash, description, expires_us);
  return absl::OkStatus();
}

std::vector<v1::ApiKey> LoadApiKeys(pqxx::transaction_base& tx, DbSession& db, const std::string& account_id) {
  std::vector<v1::ApiKey> out;
  for (const pqxx::row& r : db.Exec(tx, kSelectKeys, account_id)) {
    v1::ApiKey& k = out.emplace_back();
    k.set_id(r[0].as<std::string>());
    k.set_subject_id(r[1].as<std::string>());
    k.set_description(r[2].as<std::string>());
    SetTimestampMicros(k.mutable_created_at(), r[3].as<int64_t>());
    if (!r[4].is_null()) SetTimestampMicros(k.mutable_expires_at(), r[4].as<int64_t>());
  }
  return out;
}

bool DeleteApiKey(pqxx::work& tx, DbSession& db, const std::string& id) {
  return db.Exec(tx, kDeleteKey, id).affected_rows() > 0;
}

std::vector<v1::AccessBinding> LoadAccessBindings(pqxx::transaction_base& tx, DbSession& db,
                                                  const std::string& resource_id) {
  std::vector<v1::AccessBinding> out;
  for (const pqxx::row& r : db.Exec(tx, kSelectBindings, resource_id)) {
    v1::AccessBinding& b = out.emplace_back();
    b.set_role_id(r[0].as<std::string>());
    b.mutable_subject()->set_type(r[1].as<std::string>());
    b.mutable_subject()->set_id(r[2].as<std::string>());
  }
  return out;
}

void AddAccessBinding(pqxx::work& tx, DbSession& db, const std::string& resource_id, bool is_cloud,
                      const v1::AccessBinding& b) {
  db.Exec(tx, kAddBinding, resource_id, is_cloud, b.role_id(), b.subject().type(), b.subject().id());
}

void RemoveAccessBinding(pqxx::work& tx, DbSession& db, const std::string& resource_id, const v1::AccessBinding& b) {
  db.Exec(tx, kRemoveBinding, resource_id, b.role_id(), b.subject().type(), b.subject().id());
}

void RemoveAllAccessBindings(pqxx::work& tx, DbSession& db, const std::string& resource_id) {
  db.Exec(tx, kRemoveAllBindings, resource_id);
}

}  // namespace dedicated::controlplane
