#pragma once
// AuthCache: the answers of one IAM snapshot to "whose key is this?" and "may this principal call models
// in that folder?", remembered per event loop. Each request asked both afresh: a SHA-256 of the key, a
// hash lookup, and a role walk that built strings and vectors (about 5% of the gateway's CPU per
// request, more than its routing and admission together).
//
// Correctness rests on two facts:
// - A snapshot never changes; any change in the controlplane (a revoked key, a removed binding) arrives
//   as a new snapshot object. The cache belongs to the snapshot it was filled from and empties itself as
//   soon as it is asked about another, so a revocation takes effect with the first request that sees the
//   new snapshot, as without the cache.
// - A key's expiry is time-dependent within one snapshot, so each cached key keeps its expiry and is
//   answered "unknown" from that instant on, as Authenticate would.
// Only successful authentications are kept (a flood of wrong keys cannot grow the cache), and the cache
// empties itself when it reaches its bound. One per event loop (thread): no locks.

#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/iam/snapshot.h"

namespace dedicated::gateway {

class AuthCache {
 public:
  explicit AuthCache(size_t max_entries = 10000) : max_entries_(max_entries) {}

  // The principal of `authorization` under `snapshot`, or nullptr when the key is unknown, expired, or
  // malformed. Shared, so that it stays valid while the request awaits (other requests of the loop may
  // empty the cache meanwhile).
  std::shared_ptr<const iam::Principal> Authenticate(const std::shared_ptr<const iam::IamSnapshot>& snapshot,
                                                     absl::string_view authorization, absl::Time now);

  // iam::IamSnapshot::Allows(principal, folder_id, iam::kLanguageModelsCall) of the snapshot last passed
  // to Authenticate.
  bool MayCall(const iam::Principal& principal, absl::string_view folder_id);

 private:
  struct Key {
    std::shared_ptr<const iam::Principal> principal;
    std::optional<absl::Time> expires_at;
  };
  void Reset(const std::shared_ptr<const iam::IamSnapshot>& snapshot);

  const size_t max_entries_;
  std::shared_ptr<const iam::IamSnapshot> snapshot_;
  absl::flat_hash_map<std::string, Key> keys_;  // authorization header -> principal
  // subject type + '\n' + subject id + '\n' + folder id -> decision
  absl::flat_hash_map<std::string, bool> may_call_;
};

}  // namespace dedicated::gateway
