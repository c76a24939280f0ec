#include "services/controlplane/authorizer.h"

#include "absl/strings/str_cat.h"
#include "services/common/log.h"
#include "services/controlplane/authz_table.h"
#include "services/controlplane/validation.h"
#include "services/iam/roles.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

constexpr Sql kInstanceFolder{"authz_instance_folder", "SELECT folder_id FROM instances WHERE id = $1"};
constexpr Sql kOperationResource{"authz_operation_resource", "SELECT resource_id FROM operations WHERE id = $1"};

// Bounds the memory of the id -> folder cache; past it the cache starts over (entries are cheap to
// look up again).
constexpr size_t kMaxResolved = 200'000;

absl::Status Denied(absl::string_view permission, absl::string_view kind, absl::string_view id) {
  return absl::PermissionDeniedError(absl::StrCat("permission ", permission, " is required on ", kind, " ", id));
}

const char* KindOf(const iam::IamSnapshot& s, const std::string& resource_id) {
  return s.IsCloud(resource_id) ? "cloud" : "folder";
}

}  // namespace

absl::Status Authorizer::Authenticate(const grpc::ServerContextBase& context, RequestContext& rc) const {
  rc.iam = cache_->Current();
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return absl::UnauthenticatedError(
        "missing credentials: send metadata \"authorization: Api-Key <secret>\" (or \"Bearer <secret>\")");
  }
  absl::StatusOr<iam::Principal> principal =
      rc.iam->Authenticate(absl::string_view(it->second.data(), it->second.size()), clock_->Now());
  if (!principal.ok()) return principal.status();
  rc.principal = std::move(*principal);
  rc.subject_id = rc.principal.subject_id;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Authorizer::ResolveOnce(storage::DbSession* db, bool instance, const std::string& id) {
  std::string cache_key = absl::StrCat(instance ? "i/" : "o/", id);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = resolved_.find(cache_key); it != resolved_.end()) return it->second;
  }
  if (db == nullptr) return absl::InternalError("authorization needs a database session for this method");
  std::string value;
  bool found = false;
  absl::Status s = db->ReadOneStatement("authz resolve", [&](pqxx::nontransaction& tx, storage::DbSession& session) {
    pqxx::result r = session.Exec(tx, instance ? kInstanceFolder : kOperationResource, id);
    found = !r.empty();
    if (found) value = r[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError("");
  absl::MutexLock lock(&mu_);
  if (resolved_.size() >= kMaxResolved) resolved_.clear();
  resolved_[cache_key] = value;
  return value;
}

absl::Status Authorizer::Authorize(storage::DbSession* db, const RequestContext& rc, absl::string_view method,
                                   const google::protobuf::Message& request) {
  const AuthzRule* rule = FindAuthzRule(method);
  if (rule == nullptr) {
    LogError("no authorization rule for method: denied", {{"method", std::string(method)}});
    return absl::PermissionDeniedError(absl::StrCat(method, ": no authorization rule (denied by default)"));
  }
  const iam::Principal& who = rc.principal;
  const iam::IamSnapshot& iam = *rc.iam;
  bool is_account = who.subject_type == iam::kUserAccount || who.subject_type == iam::kServiceAccount;
  switch (rule->target) {
    case AuthzTarget::kNodeAgent:
      if (who.subject_type == iam::kNodeAgent) return absl::OkStatus();
      return absl::PermissionDeniedError(absl::StrCat(method, " is for node-agents: it needs a node credential"));
    case AuthzTarget::kGateway:
      if (who.subject_type == iam::kGateway) return absl::OkStatus();
      return absl::PermissionDeniedError(absl::StrCat(method, " is for gateways: it needs a gateway credential"));
    default:
      break;
  }
  // Internal credentials never act as users, whatever a binding says.
  if (!is_account) {
    return absl::PermissionDeniedError(absl::StrCat(method, " needs a user or service account key"));
  }
  if (rule->target == AuthzTarget::kAuthenticated) return absl::OkStatus();
  if (rule->target == AuthzTarget::kInstallationAdmin) {
    if (who.installation_admin) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(method, " is for installation admins"));
  }

  const google::protobuf::FieldDescriptor* field = request.GetDescriptor()->FindFieldByName(std::string(rule->field));
  if (field == nullptr || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
    LogError("authorization rule names a missing field", {{"method", std::string(method)}});
    return absl::InternalError(absl::StrCat(method, ": authorization rule is broken"));
  }
  const std::string field_name(rule->field);
  const std::string id = request.GetReflection()->GetString(request, field);
  if (absl::Status s = ValidateId(field_name, id); !s.ok()) return s;
  const std::string permission(rule->permission);

  // Where to check, and what "may see it" means, for resources inside folders.
  std::string resource_id;
  std::string hidden_kind;  // non-empty: absent or invisible resources answer NOT_FOUND "<kind> <id> not found"
  const char* visibility = nullptr;
  switch (rule->target) {
    case AuthzTarget::kFolder:
      if (!iam.IsFolder(id)) return absl::InvalidArgumentError(absl::StrCat(field_name, ": no folder ", id));
      resource_id = id;
      break;
    case AuthzTarget::kCloud:
      if (!iam.IsCloud(id)) return absl::InvalidArgumentError(absl::StrCat(field_name, ": no cloud ", id));
      resource_id = id;
      break;
    case AuthzTarget::kCloudOrFolder:
      if (!iam.IsCloud(id) && !iam.IsFolder(id)) {
        return absl::InvalidArgumentError(absl::StrCat(field_name, ": no cloud or folder ", id));
      }
      resource_id = id;
      break;
    case AuthzTarget::kInstance:
    case AuthzTarget::kOperation: {
      bool instance = rule->target == AuthzTarget::kInstance;
      hidden_kind = instance ? "instance" : "operation";
      visibility = instance ? iam::kInstancesGet : iam::kOperationsGet;
      absl::StatusOr<std::string> where = ResolveOnce(db, instance, id);
      if (where.ok()) {
        resource_id = *where;
      } else if (!absl::IsNotFound(where.status())) {
        return where.status();
      }
      // Operations on nodes (drain) belong to no folder: they are the installation admins'.
      if (!instance && !resource_id.empty() && !iam.IsCloud(resource_id) && !iam.IsFolder(resource_id)) {
        if (who.installation_admin) return absl::OkStatus();
        resource_id.clear();
      }
      break;
    }
    case AuthzTarget::kAccount:
    case AuthzTarget::kApiKey: {
      std::string account_id = id;
      hidden_kind = "account";
      if (rule->target == AuthzTarget::kApiKey) {
        hidden_kind = "API key";
        account_id.clear();
        if (auto h = iam.key_hash_by_id.find(id); h != iam.key_hash_by_id.end()) {
          account_id = iam.keys_by_hash.at(h->second).account_id;
        }
      }
      visibility = iam::kServiceAccountsGet;
      auto a = iam.accounts.find(account_id);
      if (a != iam.accounts.end() && a->second.type == iam::kUserAccount) {
        // A person's keys are theirs (and an installation admin's) to manage; no folder role reaches them.
        if (account_id == who.subject_id || who.installation_admin) return absl::OkStatus();
        return absl::NotFoundError(absl::StrCat(hidden_kind, " ", id, " not found"));
      }
      if (a != iam.accounts.end() && a->second.type == iam::kServiceAccount) resource_id = a->second.folder_id;
      break;
    }
    case AuthzTarget::kSelfOrInstallationAdmin:
      if (id == who.subject_id || who.installation_admin) return absl::OkStatus();
      return absl::NotFoundError(absl::StrCat("user account ", id, " not found"));
    default:
      return absl::InternalError("unhandled authorization target");
  }

  if (!hidden_kind.empty()) {
    absl::Status not_found = absl::NotFoundError(absl::StrCat(hidden_kind, " ", id, " not found"));
    if (resource_id.empty() || !iam.Allows(who, resource_id, visibility)) return not_found;
  }
  if (!iam.Allows(who, resource_id, permission)) return Denied(permission, KindOf(iam, resource_id), resource_id);
  return absl::OkStatus();
}

}  // namespace dedicated::controlplane
