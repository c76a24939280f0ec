#pragma once
// Input rules of the public API. Every error is INVALID_ARGUMENT and starts with the field name, so a
// client can point at what to fix.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"

namespace dedicated::controlplane {

inline constexpr int64_t kDefaultPageSize = 100;
inline constexpr int64_t kMaxPageSize = 1000;
inline constexpr int kMaxLabels = 64;
inline constexpr int kMaxDescriptionLength = 256;
inline constexpr int64_t kMaxReplicaCount = 64;

// Resource names: [a-z]([-a-z0-9]{0,61}[a-z0-9])? (Yandex Cloud's rule).
absl::Status ValidateName(absl::string_view field, absl::string_view name);
// Ids of folders, instances, operations: non-empty, at most 50 of [a-zA-Z0-9._-].
absl::Status ValidateId(absl::string_view field, absl::string_view id);
absl::Status ValidateDescription(absl::string_view field, absl::string_view description);
// At most 64 labels; keys [a-z][-_./\@0-9a-z]{0,62}; values [-_./\@0-9a-z]{0,63}.
absl::Status ValidateLabels(absl::string_view field, const google::protobuf::Map<std::string, std::string>& labels);
// "S", "M" or "L" (whether the model offers it is the catalog's question).
absl::Status ValidateConfiguration(absl::string_view field, absl::string_view configuration);
// 1..kMaxReplicaCount.
absl::Status ValidateReplicaCount(absl::string_view field, int64_t replica_count);
// 0 means the default (100); otherwise 1..1000. Returns the effective size through `out`.
absl::Status ValidatePageSize(absl::string_view field, int64_t page_size, int64_t* out);

}  // namespace dedicated::controlplane
