#include "services/gateway/auth_cache.h"

#include "absl/strings/str_cat.h"
#include "services/iam/roles.h"

namespace dedicated::gateway {

void AuthCache::Reset(const std::shared_ptr<const iam::IamSnapshot>& snapshot) {
  snapshot_ = snapshot;
  keys_.clear();
  may_call_.clear();
}

std::shared_ptr<const iam::Principal> AuthCache::Authenticate(const std::shared_ptr<const iam::IamSnapshot>& snapshot,
                                                              absl::string_view authorization, absl::Time now) {
  if (snapshot != snapshot_) Reset(snapshot);
  if (auto it = keys_.find(authorization); it != keys_.end()) {
    if (!it->second.expires_at.has_value() || now < *it->second.expires_at) return it->second.principal;
    keys_.erase(it);  // expired since it was cached: Authenticate below says so too
  }
  std::optional<absl::Time> expires_at;
  absl::StatusOr<iam::Principal> principal = snapshot->Authenticate(authorization, now, &expires_at);
  if (!principal.ok()) return nullptr;
  if (keys_.size() >= max_entries_) keys_.clear();
  auto shared = std::make_shared<const iam::Principal>(*std::move(principal));
  keys_.insert_or_assign(std::string(authorization), Key{shared, expires_at});
  return shared;
}

bool AuthCache::MayCall(const iam::Principal& principal, absl::string_view folder_id) {
  std::string key = absl::StrCat(principal.subject_type, "\n", principal.subject_id, "\n", folder_id);
  if (auto it = may_call_.find(key); it != may_call_.end()) return it->second;
  const bool allowed = snapshot_ != nullptr && snapshot_->Allows(principal, folder_id, iam::kLanguageModelsCall);
  if (may_call_.size() >= max_entries_) may_call_.clear();
  may_call_.emplace(std::move(key), allowed);
  return allowed;
}

}  // namespace dedicated::gateway
