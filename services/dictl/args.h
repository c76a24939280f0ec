#pragma once
// Validation of command-line values that the generic FlagSet cannot check. Every error is
// INVALID_ARGUMENT naming the flag or argument, and becomes a usage error (exit 2).

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// A string flag that must be told apart from "given empty" (update --description "" clears it) is
// registered with FlagSet::Repeated; this returns the last value given, if any.
const std::string* LastValue(const std::vector<std::string>& values);

}  // namespace dedicated::dictl
