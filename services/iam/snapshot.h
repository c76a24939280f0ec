#pragma once
// An immutable, in-memory copy of everything authorization needs: API key hashes, accounts, the
// folder -> cloud hierarchy and role bindings. The controlplane loads one from PostgreSQL and swaps in a
// new one whenever iam_state.version moves; gateways receive the same content as an AccessSnapshot
// stream. Checking a call is then a few hash lookups, with no database round trip.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dedicated/v1/access_snapshot_service.pb.h"

namespace dedicated::iam {

// Subject and account types.
inline constexpr char kUserAccount[] = "userAccount";
inline constexpr char kServiceAccount[] = "serviceAccount";
inline constexpr char kSystem[] = "system";
inline constexpr char kAllAuthenticatedUsers[] = "allAuthenticatedUsers";
inline constexpr char kNodeAgent[] = "nodeAgent";
inline constexpr char kGateway[] = "gateway";

struct KeyEntry {
  std::string key_id;
  std::string account_id;
  std::optional<absl::Time> expires_at;
};

struct AccountEntry {
  std::string type;       // one of the account types above
  std::string folder_id;  // service accounts only
  bool installation_admin = false;
};

struct BindingEntry {
  std::string role_id;
  std::string subject_type;
  std::string subject_id;
};

// The authenticated caller.
struct Principal {
  std::string subject_id;
  std::string subject_type;
  std::string key_id;
  bool installation_admin = false;
};

class IamSnapshot {
 public:
  int64_t version = 0;
  absl::flat_hash_map<std::string, KeyEntry> keys_by_hash;   // secret SHA-256 hex -> key
  absl::flat_hash_map<std::string, std::string> key_hash_by_id;
  absl::flat_hash_map<std::string, AccountEntry> accounts;   // account id -> account
  absl::flat_hash_map<std::string, std::string> folder_cloud;  // folder id -> cloud id
  absl::flat_hash_map<std::string, bool> clouds;               // cloud id -> true
  absl::flat_hash_map<std::string, std::vector<BindingEntry>> bindings;  // cloud or folder id -> bindings

  // Call after filling `bindings`: indexes roles by (resource, subject) so that a check costs a few
  // hash lookups however many bindings a folder has.
  void BuildIndex();

  // UNAUTHENTICATED unless `authorization` carries the secret of a live key ("Api-Key <s>" or
  // "Bearer <s>"). Messages never echo the header. `expires_at`, when given, receives the key's expiry
  // (nullopt: none), for callers that cache the answer (the gateway's AuthCache).
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization, absl::Time now,
                                         std::optional<absl::Time>* expires_at = nullptr) const;

  bool IsCloud(absl::string_view id) const { return clouds.contains(id); }
  bool IsFolder(absl::string_view id) const { return folder_cloud.contains(id); }

  // The roles `principal` holds on `resource_id` (a cloud, or a folder together with its cloud), through
  // bindings naming it or allAuthenticatedUsers.
  std::vector<std::string> RolesOn(const Principal& principal, absl::string_view resource_id) const;
  bool Allows(const Principal& principal, absl::string_view resource_id, absl::string_view permission) const;

  v1::AccessSnapshot ToProto() const;
  static std::shared_ptr<const IamSnapshot> FromProto(const v1::AccessSnapshot& proto);

 private:
  void AddRoles(absl::string_view resource_id, const Principal& p, std::vector<std::string>& out) const;
  // "resource\nsubject_type\nsubject_id" -> role ids.
  absl::flat_hash_map<std::string, std::vector<std::string>> roles_index_;
};

}  // namespace dedicated::iam
