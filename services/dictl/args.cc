#include "services/dictl/args.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dedicated::dictl {

absl::StatusOr<std::string> ParseConfiguration(absl::string_view text) {
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  if (upper == "S" || upper == "M" || upper == "L") return upper;
  return absl::InvalidArgumentError(absl::StrCat("--config: must be S, M or L, got \"", text, "\""));
}

bool IsUuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? text[i] != '-' : !absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

absl::Status ExpectPositional(const std::vector<std::string>& positional,
                              const std::vector<std::string>& names) {
  if (positional.size() < names.size()) {
    return absl::InvalidArgumentError(absl::StrCat("missing argument ", names[positional.size()],
                                                   " (expected ", absl::StrJoin(names, " "), ")"));
  }
  if (positional.size() > names.size()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", positional[names.size()], "\""));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (positional[i].empty()) return absl::InvalidArgumentError(absl::StrCat(names[i], " is empty"));
  }
  return absl::OkStatus();
}

absl::Status RequireFlags(const std::vector<std::pair<std::string, std::string>>& flags) {
  std::vector<std::string> missing;
  for (const auto& [name, value] : flags) {
    if (value.empty()) missing.push_back(absl::StrCat("--", name));
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(missing.size() == 1 ? "missing required flag " : "missing required flags ",
                   absl::StrJoin(missing, ", ")));
}

const std::string* LastValue(const std::vector<std::string>& values) {
  return values.empty() ? nullptr : &values.back();
}

}  // namespace dedicated::dictl
