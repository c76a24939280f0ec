#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dedicated {

// Parses the --labels flag of dictl and node-agent: "k=v,k2=v2" (whitespace around keys and values is
// trimmed; a value may contain '='; empty text is no labels). A pair without '=', an empty key, an empty
// pair or a repeated key is INVALID_ARGUMENT naming --labels.
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(absl::string_view text);

}  // namespace dedicated
