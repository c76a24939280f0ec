#include "services/iam/snapshot.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "services/iam/api_key.h"
#include "services/iam/roles.h"

namespace dedicated::iam {
namespace {

using google::protobuf::util::TimeUtil;

// One message for every failure: a caller probing keys learns nothing from the wording.
absl::Status BadKey() {
  return absl::UnauthenticatedError("the API key is not valid: it is unknown, deleted or expired");
}

std::string IndexKey(absl::string_view resource, absl::string_view type, absl::string_view id) {
  return absl::StrCat(resource, "\n", type, "\n", id);
}

}  // namespace

absl::StatusOr<Principal> IamSnapshot::Authenticate(absl::string_view authorization, absl::Time now,
                                                    std::optional<absl::Time>* expires_at) const {
  absl::StatusOr<std::string> secret = SecretFromAuthorization(authorization);
  if (!secret.ok()) return secret.status();
  auto key = keys_by_hash.find(HashApiKeySecret(*secret));
  // The hash map lookup is not constant time, but what it compares is a hash of a 256-bit secret: timing
  // reveals at most a prefix of a hash, which does not help to find a secret.
  if (key == keys_by_hash.end()) return BadKey();
  if (key->second.expires_at.has_value() && *key->second.expires_at <= now) return BadKey();
  auto account = accounts.find(key->second.account_id);
  if (account == accounts.end()) return BadKey();
  if (expires_at != nullptr) *expires_at = key->second.expires_at;
  return Principal{.subject_id = key->second.account_id,
                   .subject_type = account->second.type,
                   .key_id = key->second.key_id,
                   .installation_admin = account->second.installation_admin};
}

void IamSnapshot::BuildIndex() {
  roles_index_.clear();
  for (const auto& [resource, list] : bindings) {
    for (const BindingEntry& b : list) roles_index_[IndexKey(resource, b.subject_type, b.subject_id)].push_back(b.role_id);
  }
}

void IamSnapshot::AddRoles(absl::string_view resource_id, const Principal& p, std::vector<std::string>& out) const {
  if (auto it = roles_index_.find(IndexKey(resource_id, p.subject_type, p.subject_id)); it != roles_index_.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
  // allAuthenticatedUsers means accounts: never the internal node-agent and gateway principals.
  if (p.subject_type == kUserAccount || p.subject_type == kServiceAccount) {
    if (auto it = roles_index_.find(IndexKey(resource_id, kSystem, kAllAuthenticatedUsers)); it != roles_index_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
  }
}

std::vector<std::string> IamSnapshot::RolesOn(const Principal& principal, absl::string_view resource_id) const {
  std::vector<std::string> roles;
  AddRoles(resource_id, principal, roles);
  if (auto folder = folder_cloud.find(resource_id); folder != folder_cloud.end()) {
    AddRoles(folder->second, principal, roles);
  }
  return roles;
}

bool IamSnapshot::Allows(const Principal& principal, absl::string_view resource_id,
                         absl::string_view permission) const {
  return Grants(RolesOn(principal, resource_id), permission);
}

v1::AccessSnapshot IamSnapshot::ToProto() const {
  v1::AccessSnapshot out;
  out.set_version(version);
  for (const auto& [hash, key] : keys_by_hash) {
    auto account = accounts.find(key.account_id);
    if (account == accounts.end()) continue;
    v1::ApiKeyEntry* e = out.add_api_keys();
    e->set_key_id(key.key_id);
    e->set_secret_sha256(hash);
    e->set_subject_id(key.account_id);
    e->set_subject_type(account->second.type);
    if (key.expires_at.has_value()) {
      *e->mutable_expires_at() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(*key.expires_at));
    }
  }
  for (const auto& [folder, cloud] : folder_cloud) {
    v1::FolderEntry* f = out.add_folders();
    f->set_folder_id(folder);
    f->set_cloud_id(cloud);
  }
  for (const auto& [resource, list] : bindings) {
    v1::ResourceBindings* rb = out.add_bindings();
    rb->set_resource_id(resource);
    for (const BindingEntry& b : list) {
      v1::AccessBinding* ab = rb->add_access_bindings();
      ab->set_role_id(b.role_id);
      ab->mutable_subject()->set_type(b.subject_type);
      ab->mutable_subject()->set_id(b.subject_id);
    }
  }
  return out;
}

std::shared_ptr<const IamSnapshot> IamSnapshot::FromProto(const v1::AccessSnapshot& proto) {
  auto s = std::make_shared<IamSnapshot>();
  s->version = proto.version();
  for (const v1::ApiKeyEntry& e : proto.api_keys()) {
    KeyEntry key{.key_id = e.key_id(), .account_id = e.subject_id(), .expires_at = {}};
    if (e.has_expires_at()) key.expires_at = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(e.expires_at()));
    s->keys_by_hash[e.secret_sha256()] = key;
    s->key_hash_by_id[e.key_id()] = e.secret_sha256();
    // Gateways see accounts only through their keys; folder and admin flags do not matter to them.
    s->accounts[e.subject_id()].type = e.subject_type();
  }
  for (const v1::FolderEntry& f : proto.folders()) {
    s->folder_cloud[f.folder_id()] = f.cloud_id();
    s->clouds[f.cloud_id()] = true;
  }
  for (const v1::ResourceBindings& rb : proto.bindings()) {
    auto& list = s->bindings[rb.resource_id()];
    for (const v1::AccessBinding& b : rb.access_bindings()) {
      list.push_back({b.role_id(), b.subject().type(), b.subject().id()});
    }
  }
  s->BuildIndex();
  return s;
}

}  // namespace dedicated::iam
