#pragma once
// Validation of command-line values that the generic FlagSet cannot check. Every error is
// INVALID_ARGUMENT naming the flag or argument, and becomes a usage error (exit 2).

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dedicated/v1/access_binding.pb.h"
#include "services/common/labels.h"

namespace dedicated::dictl {

// ParseLabels ("k=v,k2=v2") is shared with node-agent: services/common/labels.h. An empty string is an
// empty map (update uses it to clear labels).
using ::dedicated::ParseLabels;

// "s", "M", ... -> "S" | "M" | "L".
absl::StatusOr<std::string> ParseConfiguration(absl::string_view text);

// Canonical 8-4-4-4-12 hex form, which is what the server expects in `idempotency-key`.
bool IsUuid(absl::string_view text);

// Checks that exactly the named positional arguments were given, e.g. names = {"ID"}.
absl::Status ExpectPositional(const std::vector<std::string>& positional,
                              const std::vector<std::string>& names);

// Flags that must be given and non-empty, as {flag name, value}.
absl::Status RequireFlags(const std::vector<std::pair<std::string, std::string>>& flags);

// An access binding subject, TYPE:ID: "serviceAccount:<id>", "userAccount:<id>" or
// "system:allAuthenticatedUsers". Errors name `flag` ("--subject", "--binding").
absl::StatusOr<v1::Subject> ParseSubject(absl::string_view text, absl::string_view flag);

// A role id: letters, digits, '.', '-', '_' (e.g. "ai.models.editor"). Errors name `flag`.
absl::Status ValidateRole(absl::string_view role, absl::string_view flag);

// --binding ROLE=TYPE:ID.
absl::StatusOr<v1::AccessBinding> ParseBinding(absl::string_view text);

// --expires-in: an absl duration ("24h", "90m") or whole days ("30d", since key lifetimes are usually
// counted in days); must be positive.
absl::StatusOr<absl::Duration> ParseKeyLifetime(absl::string_view text);

// --expires-at: RFC 3339, e.g. "2026-01-31T00:00:00Z" or "2026-01-31T03:00:00+03:00".
absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view text, absl::string_view flag);

// A string flag that must be told apart from "given empty" (update --description "" clears it) is
// registered with FlagSet::Repeated; this returns the last value given, if any.
const std::string* LastValue(const std::vector<std::string>& values);

}  // namespace dedicated::dictl
