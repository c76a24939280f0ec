#include "services/controlplane/iam_api.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/ids.h"
#include "services/common/log.h"
#include "services/common/status_macros.h"
#include "services/controlplane/iam_store.h"
#include "services/controlplane/idempotent_mutation.h"
#include "services/controlplane/list_query.h"
#include "services/controlplane/operation_store.h"
#include "services/controlplane/row_codec.h"
#include "services/controlplane/validation.h"
#include "services/iam/api_key.h"
#include "services/iam/roles.h"

namespace dedicated::controlplane {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kResourcePrefix[] = "dedicated.v1.ResourceService/";
constexpr char kBindingPrefix[] = "dedicated.v1.AccessBindingService/";

// Pages an in-memory list sorted by `key`: the token holds the key of the last item returned. IAM lists
// are filtered by what the caller may see, which SQL cannot express, and are small (one folder's
// service accounts, one cloud's folders).
template <typename T, typename KeyFn, typename Out>
absl::Status PageInMemory(const std::vector<T>& sorted, KeyFn key, int64_t requested_size, const std::string& token,
                          const std::string& query, Out* out, std::string* next_page_token) {
  int64_t page_size = 0;
  DI_RETURN_IF_ERROR(ValidatePageSize("page_size", requested_size, &page_size));
  DI_ASSIGN_OR_RETURN(std::optional<PageCursor> after, DecodePageToken("page_token", token, query));
  auto it = sorted.begin();
  if (after.has_value()) {
    it = std::upper_bound(sorted.begin(), sorted.end(), after->id,
                          [&](const std::string& k, const T& item) { return k < key(item); });
  }
  for (; it != sorted.end() && out->size() < page_size; ++it) *out->Add() = *it;
  if (it != sorted.end() && out->size() > 0) {
    *next_page_token = EncodePageToken(PageCursor{"", key(out->at(out->size() - 1))}, query);
  }
  return absl::OkStatus();
}

template <typename Metadata>
NewOperation DoneOperation(const RequestContext& rc, const std::string& kind, const std::string& description,
                           const std::string& resource_id, const Metadata& metadata,
                           const google::protobuf::Message& response) {
  google::protobuf::Any any;
  any.PackFrom(response);
  return NewOperation{.id = NewId("dop"),
                      .kind = kind,
                      .description = description,
                      .instance_id = "",
                      .resource_id = resource_id,
                      .created_by = rc.subject_id,
                      .metadata = PackAny(metadata),
                      .response = any};
}

std::string BindingKey(const v1::AccessBinding& b) {
  return absl::StrCat(b.role_id(), "\n", b.subject().type(), "\n", b.subject().id());
}

// `field` is e.g. "access_bindings[3]" so that errors point at the entry.
absl::Status ValidateBinding(const RequestContext& rc, const std::string& field, const v1::AccessBinding& b) {
  if (!iam::IsKnownRole(b.role_id())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".role_id: unknown role \"", b.role_id(),
                                                   "\"; known roles: ", absl::StrJoin(iam::KnownRoles(), ", ")));
  }
  const std::string& type = b.subject().type();
  const std::string& id = b.subject().id();
  if (type == iam::kSystem) {
    if (id != iam::kAllAuthenticatedUsers) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".subject.id: the only system subject is ", iam::kAllAuthenticatedUsers));
    }
    return absl::OkStatus();
  }
  if (type != iam::kUserAccount && type != iam::kServiceAccount) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".subject.type: must be userAccount, serviceAccount or system, got \"", type, "\""));
  }
  DI_RETURN_IF_ERROR(ValidateId(absl::StrCat(field, ".subject.id"), id));
  auto account = rc.iam->accounts.find(id);
  if (account == rc.iam->accounts.end() || account->second.type != type) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".subject.id: no ", type, " ", id));
  }
  return absl::OkStatus();
}

// A caller may only grant or revoke roles whose every permission it holds on the resource: otherwise
// ai.models.admin could make itself (or a friend) a primitive admin.
absl::Status CheckMayGrant(const RequestContext& rc, const std::string& resource_id, const std::string& field,
                           const std::string& role_id) {
  if (iam::GrantsAllOf(rc.iam->RolesOn(rc.principal, resource_id), role_id)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(field, ": you cannot grant or revoke ", role_id, " on ",
                                                  resource_id, " because you do not hold all of its permissions"));
}

absl::Status DescribeUnique(absl::Status s, absl::string_view what, absl::string_view name, absl::string_view where) {
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("name: a ", what, " named \"", name, "\" already exists", where));
  }
  return s;
}

}  // namespace

void IamApi::Refreshed(DbSession& db) {
  if (absl::Status s = cache_->Refresh(db); !s.ok()) {
    LogWarning("IAM cache refresh after a write failed; the poller will catch up", {{"error", s.ToString()}});
  }
}

// ---- Clouds and folders ----

absl::StatusOr<v1::Cloud> IamApi::GetCloud(DbSession& db, const RequestContext&, const v1::GetCloudRequest& req) {
  v1::Cloud out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get cloud", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(out, LoadCloud(tx, s, req.cloud_id()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListCloudsResponse> IamApi::ListClouds(DbSession& db, const RequestContext& rc,
                                                          const v1::ListCloudsRequest& req) {
  std::vector<v1::Cloud> visible;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list clouds", [&](pqxx::nontransaction& tx, DbSession& s) {
    visible.clear();
    for (v1::Cloud& c : LoadClouds(tx, s)) {
      if (rc.iam->Allows(rc.principal, c.id(), iam::kResourcesGet)) visible.push_back(std::move(c));
    }
    return absl::OkStatus();
  }));
  v1::ListCloudsResponse out;
  DI_RETURN_IF_ERROR(PageInMemory(visible, [](const v1::Cloud& c) { return c.id(); }, req.page_size(),
                                  req.page_token(), "clouds", out.mutable_clouds(), out.mutable_next_page_token()));
  return out;
}

absl::StatusOr<v1::Operation> IamApi::CreateCloud(DbSession& db, const RequestContext& rc,
                                                  const v1::CreateCloudRequest& req) {
  DI_RETURN_IF_ERROR(ValidateName("name", req.name()));
  DI_RETURN_IF_ERROR(ValidateDescription("description", req.description()));
  auto op = IdempotentMutation(db, rc, absl::StrCat(kResourcePrefix, "CreateCloud"), req,
                               [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
                                 v1::Cloud cloud;
                                 cloud.set_id(NewId("dcl"));
                                 cloud.set_name(req.name());
                                 cloud.set_description(req.description());
                                 DI_RETURN_IF_ERROR(InsertCloud(tx, s, cloud));
                                 // The creator administers what it created.
                                 v1::AccessBinding owner;
                                 owner.set_role_id("admin");
                                 owner.mutable_subject()->set_type(rc.principal.subject_type);
                                 owner.mutable_subject()->set_id(rc.principal.subject_id);
                                 AddAccessBinding(tx, s, cloud.id(), /*is_cloud=*/true, owner);
                                 BumpIamVersion(tx, s);
                                 DI_ASSIGN_OR_RETURN(cloud, LoadCloud(tx, s, cloud.id()));
                                 v1::CreateCloudMetadata md;
                                 md.set_cloud_id(cloud.id());
                                 return InsertOperation(
                                     tx, s,
                                     DoneOperation(rc, kCreateCloud, absl::StrCat("Create cloud ", req.name()),
                                                   cloud.id(), md, cloud));
                               });
  if (!op.ok()) return DescribeUnique(op.status(), "cloud", req.name(), "");
  Refreshed(db);
  return op;
}

absl::StatusOr<v1::Folder> IamApi::GetFolder(DbSession& db, const RequestContext&, const v1::GetFolderRequest& req) {
  v1::Folder out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get folder", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(out, LoadFolder(tx, s, req.folder_id()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListFoldersResponse> IamApi::ListFolders(DbSession& db, const RequestContext& rc,
                                                            const v1::ListFoldersRequest& req) {
  DI_RETURN_IF_ERROR(ValidateId("cloud_id", req.cloud_id()));
  std::vector<v1::Folder> visible;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list folders", [&](pqxx::nontransaction& tx, DbSession& s) {
    visible.clear();
    for (v1::Folder& f : LoadFolders(tx, s, req.cloud_id())) {
      if (rc.iam->Allows(rc.principal, f.id(), iam::kResourcesGet)) visible.push_back(std::move(f));
    }
    return absl::OkStatus();
  }));
  v1::ListFoldersResponse out;
  DI_RETURN_IF_ERROR(PageInMemory(visible, [](const v1::Folder& f) { return f.id(); }, req.page_size(),
                                  req.page_token(), absl::StrCat("folders/", req.cloud_id()),
                                  out.mutable_folders(), out.mutable_next_page_token()));
  return out;
}

absl::StatusOr<v1::Operation> IamApi::CreateFolder(DbSession& db, const RequestContext& rc,
                                                   const v1::CreateFolderRequest& req) {
  DI_RETURN_IF_ERROR(ValidateName("name", req.name()));
  DI_RETURN_IF_ERROR(ValidateDescription("description", req.description()));
  auto op = IdempotentMutation(db, rc, absl::StrCat(kResourcePrefix, "CreateFolder"), req,
                               [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
                                 v1::Folder folder;
                                 folder.set_id(NewId("dfo"));
                                 folder.set_cloud_id(req.cloud_id());
                                 folder.set_name(req.name());
                                 folder.set_description(req.description());
                                 DI_RETURN_IF_ERROR(InsertFolder(tx, s, folder));
                                 BumpIamVersion(tx, s);
                                 DI_ASSIGN_OR_RETURN(folder, LoadFolder(tx, s, folder.id()));
                                 v1::CreateFolderMetadata md;
                                 md.set_folder_id(folder.id());
                                 return InsertOperation(
                                     tx, s,
                                     DoneOperation(rc, kCreateFolder, absl::StrCat("Create folder ", req.name()),
                                                   folder.id(), md, folder));
                               });
  if (!op.ok()) return DescribeUnique(op.status(), "folder", req.name(), absl::StrCat(" in cloud ", req.cloud_id()));
  Refreshed(db);
  return op;
}

// ---- Service accounts and keys ----

absl::StatusOr<v1::ServiceAccount> IamApi::GetServiceAccount(DbSession& db, const RequestContext&,
                                                             const v1::GetServiceAccountRequest& req) {
  v1::ServiceAccount out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get sa", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(out, LoadServiceAccount(tx, s, req.service_account_id()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListServiceAccountsResponse> IamApi::ListServiceAccounts(
    DbSession& db, const RequestContext&, const v1::ListServiceAccountsRequest& req) {
  std::vector<v1::ServiceAccount> all;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list sa", [&](pqxx::nontransaction& tx, DbSession& s) {
    all = LoadServiceAccounts(tx, s, req.folder_id());
    return absl::OkStatus();
  }));
  v1::ListServiceAccountsResponse out;
  DI_RETURN_IF_ERROR(PageInMemory(all, [](const v1::ServiceAccount& a) { return a.id(); }, req.page_size(),
                                  req.page_token(), absl::StrCat("sa/", req.folder_id()),
                                  out.mutable_service_accounts(), out.mutable_next_page_token()));
  return out;
}

absl::StatusOr<v1::ServiceAccount> IamApi::CreateServiceAccount(DbSession& db, const RequestContext&,
                                                                const v1::CreateServiceAccountRequest& req) {
  DI_RETURN_IF_ERROR(ValidateName("name", req.name()));
  DI_RETURN_IF_ERROR(ValidateDescription("description", req.description()));
  v1::ServiceAccount out;
  absl::Status s = db.InTransaction("create sa", [&](pqxx::work& tx, DbSession& session) -> absl::Status {
    NewAccount a{.id = NewId("dsa"),
                 .type = iam::kServiceAccount,
                 .folder_id = req.folder_id(),
                 .name = req.name(),
                 .description = req.description(),
                 .installation_admin = false};
    DI_RETURN_IF_ERROR(InsertAccount(tx, session, a));
    BumpIamVersion(tx, session);
    DI_ASSIGN_OR_RETURN(out, LoadServiceAccount(tx, session, a.id));
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return DescribeUnique(s, "service account", req.name(), absl::StrCat(" in folder ", req.folder_id()));
  }
  Refreshed(db);
  return out;
}

absl::StatusOr<v1::UserAccount> IamApi::GetUserAccount(DbSession& db, const RequestContext&,
                                                       const v1::GetUserAccountRequest& req) {
  v1::UserAccount out;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get user", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    DI_ASSIGN_OR_RETURN(out, LoadUserAccount(tx, s, req.user_account_id()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListUserAccountsResponse> IamApi::ListUserAccounts(DbSession& db, const RequestContext&,
                                                                      const v1::ListUserAccountsRequest& req) {
  std::vector<v1::UserAccount> all;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list users", [&](pqxx::nontransaction& tx, DbSession& s) {
    all = LoadUserAccounts(tx, s);
    return absl::OkStatus();
  }));
  v1::ListUserAccountsResponse out;
  DI_RETURN_IF_ERROR(PageInMemory(all, [](const v1::UserAccount& u) { return u.id(); }, req.page_size(),
                                  req.page_token(), "users", out.mutable_user_accounts(),
                                  out.mutable_next_page_token()));
  return out;
}

absl::StatusOr<v1::UserAccount> IamApi::CreateUserAccount(DbSession& db, const RequestContext&,
                                                          const v1::CreateUserAccountRequest& req) {
  DI_RETURN_IF_ERROR(ValidateName("name", req.name()));
  DI_RETURN_IF_ERROR(ValidateDescription("description", req.description()));
  v1::UserAccount out;
  absl::Status s = db.InTransaction("create user", [&](pqxx::work& tx, DbSession& session) -> absl::Status {
    NewAccount a{.id = NewId("dua"),
                 .type = iam::kUserAccount,
                 .folder_id = "",
                 .name = req.name(),
                 .description = req.description(),
                 .installation_admin = false};
    DI_RETURN_IF_ERROR(InsertAccount(tx, session, a));
    BumpIamVersion(tx, session);
    DI_ASSIGN_OR_RETURN(out, LoadUserAccount(tx, session, a.id));
    return absl::OkStatus();
  });
  if (!s.ok()) return DescribeUnique(s, "user account", req.name(), "");
  Refreshed(db);
  return out;
}

absl::StatusOr<v1::CreateApiKeyResponse> IamApi::CreateApiKey(DbSession& db, const RequestContext&,
                                                              const v1::CreateApiKeyRequest& req) {
  DI_RETURN_IF_ERROR(ValidateDescription("description", req.description()));
  std::optional<absl::Time> expires_at;
  if (req.has_expires_at()) {
    if (req.expires_at().seconds() < TimeUtil::kTimestampMinSeconds ||
        req.expires_at().seconds() > TimeUtil::kTimestampMaxSeconds || req.expires_at().nanos() < 0 ||
        req.expires_at().nanos() > 999'999'999) {
      return absl::InvalidArgumentError("expires_at: not a valid timestamp");
    }
    expires_at = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(req.expires_at()));
    if (*expires_at <= clock_->Now()) return absl::InvalidArgumentError("expires_at: must be in the future");
  }
  v1::CreateApiKeyResponse out;
  std::string secret = iam::NewApiKeySecret();
  std::string id = NewId("dak");
  absl::Status s = db.InTransaction("create api key", [&](pqxx::work& tx, DbSession& session) -> absl::Status {
    DI_RETURN_IF_ERROR(InsertApiKey(tx, session, id, req.subject_id(), iam::HashApiKeySecret(secret),
                                    req.description(), expires_at));
    BumpIamVersion(tx, session);
    for (v1::ApiKey& k : LoadApiKeys(tx, session, req.subject_id())) {
      if (k.id() == id) *out.mutable_api_key() = std::move(k);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  out.set_secret(std::move(secret));
  Refreshed(db);
  return out;
}

absl::StatusOr<v1::ListApiKeysResponse> IamApi::ListApiKeys(DbSession& db, const RequestContext&,
                                                            const v1::ListApiKeysRequest& req) {
  std::vector<v1::ApiKey> all;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list api keys", [&](pqxx::nontransaction& tx, DbSession& s) {
    all = LoadApiKeys(tx, s, req.subject_id());
    return absl::OkStatus();
  }));
  v1::ListApiKeysResponse out;
  DI_RETURN_IF_ERROR(PageInMemory(all, [](const v1::ApiKey& k) { return k.id(); }, req.page_size(),
                                  req.page_token(), absl::StrCat("keys/", req.subject_id()),
                                  out.mutable_api_keys(), out.mutable_next_page_token()));
  return out;
}

absl::StatusOr<v1::DeleteApiKeyResponse> IamApi::DeleteApiKey(DbSession& db, const RequestContext&,
                                                              const v1::DeleteApiKeyRequest& req) {
  bool deleted = false;
  DI_RETURN_IF_ERROR(db.InTransaction("delete api key", [&](pqxx::work& tx, DbSession& s) {
    deleted = controlplane::DeleteApiKey(tx, s, req.api_key_id());
    if (deleted) BumpIamVersion(tx, s);
    return absl::OkStatus();
  }));
  if (!deleted) return absl::NotFoundError(absl::StrCat("API key ", req.api_key_id(), " not found"));
  Refreshed(db);
  return v1::DeleteApiKeyResponse();
}

// ---- Access bindings ----

absl::StatusOr<v1::ListAccessBindingsResponse> IamApi::ListAccessBindings(DbSession& db, const RequestContext&,
                                                                          const v1::ListAccessBindingsRequest& req) {
  std::vector<v1::AccessBinding> all;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("list bindings", [&](pqxx::nontransaction& tx, DbSession& s) {
    all = LoadAccessBindings(tx, s, req.resource_id());
    return absl::OkStatus();
  }));
  v1::ListAccessBindingsResponse out;
  DI_RETURN_IF_ERROR(PageInMemory(all, BindingKey, req.page_size(), req.page_token(),
                                  absl::StrCat("bindings/", req.resource_id()), out.mutable_access_bindings(),
                                  out.mutable_next_page_token()));
  return out;
}

absl::StatusOr<v1::Operation> IamApi::SetAccessBindings(DbSession& db, const RequestContext& rc,
                                                        const v1::SetAccessBindingsRequest& req) {
  if (req.access_bindings_size() > kMaxAccessBindingChanges) {
    return absl::InvalidArgumentError(absl::StrCat("access_bindings: at most ", kMaxAccessBindingChanges,
                                                   " bindings, got ", req.access_bindings_size()));
  }
  for (int i = 0; i < req.access_bindings_size(); ++i) {
    std::string field = absl::StrCat("access_bindings[", i, "]");
    DI_RETURN_IF_ERROR(ValidateBinding(rc, field, req.access_bindings(i)));
  }
  bool is_cloud = rc.iam->IsCloud(req.resource_id());
  auto op = IdempotentMutation(
      db, rc, absl::StrCat(kBindingPrefix, "SetAccessBindings"), req,
      [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
        // The grant rule applies to what changes: bindings added, and bindings removed (revoking is as
        // powerful as granting). Bindings kept as they are need nothing, so anyone allowed to Set may
        // send back the list they read with a change of their own.
        const std::vector<v1::AccessBinding> current = LoadAccessBindings(tx, s, req.resource_id());
        std::set<std::string> before, after;
        for (const v1::AccessBinding& b : current) before.insert(BindingKey(b));
        for (int i = 0; i < req.access_bindings_size(); ++i) {
          const v1::AccessBinding& b = req.access_bindings(i);
          after.insert(BindingKey(b));
          if (!before.contains(BindingKey(b))) {
            DI_RETURN_IF_ERROR(CheckMayGrant(rc, req.resource_id(), absl::StrCat("access_bindings[", i, "]"), b.role_id()));
          }
        }
        for (const v1::AccessBinding& b : current) {
          if (!after.contains(BindingKey(b))) {
            DI_RETURN_IF_ERROR(CheckMayGrant(rc, req.resource_id(), "access_bindings", b.role_id()));
          }
        }
        RemoveAllAccessBindings(tx, s, req.resource_id());
        for (const v1::AccessBinding& b : req.access_bindings()) AddAccessBinding(tx, s, req.resource_id(), is_cloud, b);
        BumpIamVersion(tx, s);
        v1::SetAccessBindingsMetadata md;
        md.set_resource_id(req.resource_id());
        return InsertOperation(tx, s,
                               DoneOperation(rc, kSetAccessBindings,
                                             absl::StrCat("Set access bindings of ", req.resource_id()),
                                             req.resource_id(), md, google::protobuf::Empty()));
      });
  if (op.ok()) Refreshed(db);
  return op;
}

absl::StatusOr<v1::Operation> IamApi::UpdateAccessBindings(DbSession& db, const RequestContext& rc,
                                                           const v1::UpdateAccessBindingsRequest& req) {
  if (req.access_binding_deltas_size() == 0) {
    return absl::InvalidArgumentError("access_binding_deltas: at least one delta is required");
  }
  if (req.access_binding_deltas_size() > kMaxAccessBindingChanges) {
    return absl::InvalidArgumentError(absl::StrCat("access_binding_deltas: at most ", kMaxAccessBindingChanges,
                                                   " deltas, got ", req.access_binding_deltas_size()));
  }
  for (int i = 0; i < req.access_binding_deltas_size(); ++i) {
    const v1::AccessBindingDelta& d = req.access_binding_deltas(i);
    std::string field = absl::StrCat("access_binding_deltas[", i, "]");
    if (d.action() != v1::ADD && d.action() != v1::REMOVE) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".action: must be ADD or REMOVE"));
    }
    // Removing a binding of an account that no longer exists must stay possible: check existence on ADD.
    if (d.action() == v1::ADD) {
      DI_RETURN_IF_ERROR(ValidateBinding(rc, absl::StrCat(field, ".access_binding"), d.access_binding()));
    } else if (!iam::IsKnownRole(d.access_binding().role_id())) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".access_binding.role_id: unknown role \"",
                                                     d.access_binding().role_id(), "\""));
    }
    DI_RETURN_IF_ERROR(CheckMayGrant(rc, req.resource_id(), field, d.access_binding().role_id()));
  }
  bool is_cloud = rc.iam->IsCloud(req.resource_id());
  auto op = IdempotentMutation(
      db, rc, absl::StrCat(kBindingPrefix, "UpdateAccessBindings"), req,
      [&](pqxx::work& tx, DbSession& s) -> absl::StatusOr<OperationRow> {
        for (const v1::AccessBindingDelta& d : req.access_binding_deltas()) {
          if (d.action() == v1::ADD) {
            AddAccessBinding(tx, s, req.resource_id(), is_cloud, d.access_binding());
          } else {
            RemoveAccessBinding(tx, s, req.resource_id(), d.access_binding());
          }
        }
        BumpIamVersion(tx, s);
        v1::UpdateAccessBindingsMetadata md;
        md.set_resource_id(req.resource_id());
        return InsertOperation(tx, s,
                               DoneOperation(rc, kUpdateAccessBindings,
                                             absl::StrCat("Update access bindings of ", req.resource_id()),
                                             req.resource_id(), md, google::protobuf::Empty()));
      });
  if (op.ok()) Refreshed(db);
  return op;
}

}  // namespace dedicated::controlplane
