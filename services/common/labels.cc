#include "services/common/labels.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dedicated {

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(absl::string_view text) {
  std::map<std::string, std::string> labels;
  if (absl::StripAsciiWhitespace(text).empty()) return labels;
  for (absl::string_view pair : absl::StrSplit(text, ',')) {
    size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--labels: \"", pair, "\" is not key=value (e.g. --labels env=prod,team=ml)"));
    }
    std::string key(absl::StripAsciiWhitespace(pair.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(pair.substr(eq + 1)));
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--labels: \"", pair, "\" has an empty key"));
    }
    if (!labels.emplace(key, value).second) {
      return absl::InvalidArgumentError(absl::StrCat("--labels: key \"", key, "\" is given twice"));
    }
  }
  return labels;
}

}  // namespace dedicated
