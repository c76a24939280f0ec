#include "services/dictl/args.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
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

absl::StatusOr<v1::Subject> ParseSubject(absl::string_view text, absl::string_view flag) {
  auto malformed = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", why, " in \"", text,
        "\" (expected serviceAccount:ID, userAccount:ID or system:allAuthenticatedUsers)"));
  };
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return malformed("no TYPE: prefix");
  absl::string_view type = text.substr(0, colon);
  absl::string_view id = text.substr(colon + 1);
  if (type != "serviceAccount" && type != "userAccount" && type != "system") {
    return malformed(absl::StrCat("unknown subject type \"", type, "\""));
  }
  if (id.empty()) return malformed("empty ID");
  for (char c : id) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) return malformed("ID with spaces or control characters");
  }
  if (type == "system" && id != "allAuthenticatedUsers") return malformed("unknown system subject");
  v1::Subject subject;
  subject.set_type(std::string(type));
  subject.set_id(std::string(id));
  return subject;
}

absl::Status ValidateRole(absl::string_view role, absl::string_view flag) {
  if (role.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty role"));
  for (char c : role) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": role \"", role, "\" may contain only letters, digits, '.', '-' and '_'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::AccessBinding> ParseBinding(absl::string_view text) {
  const size_t eq = text.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--binding: expected ROLE=TYPE:ID, e.g. ai.languageModels.user=serviceAccount:ajeb1, got \"", text,
                     "\""));
  }
  absl::string_view role = text.substr(0, eq);
  if (absl::Status s = ValidateRole(role, "--binding"); !s.ok()) return s;
  absl::StatusOr<v1::Subject> subject = ParseSubject(text.substr(eq + 1), "--binding");
  if (!subject.ok()) return subject.status();
  v1::AccessBinding binding;
  binding.set_role_id(std::string(role));
  *binding.mutable_subject() = *std::move(subject);
  return binding;
}

absl::StatusOr<absl::Duration> ParseKeyLifetime(absl::string_view text) {
  absl::Duration lifetime;
  absl::string_view days_text = text;
  int64_t days = 0;
  if (absl::ConsumeSuffix(&days_text, "d") && absl::SimpleAtoi(days_text, &days)) {
    lifetime = absl::Hours(24) * days;
  } else if (!absl::ParseDuration(text, &lifetime)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--expires-in: not a duration (e.g. 24h, 90m, 30d): \"", text, "\""));
  }
  if (lifetime <= absl::ZeroDuration()) return absl::InvalidArgumentError("--expires-in: must be positive");
  // Also keeps "now + lifetime" far from absl's infinite future, which has no Timestamp.
  if (lifetime > absl::Hours(24 * 365 * 100)) {
    return absl::InvalidArgumentError("--expires-in: more than 100 years; omit it for a key that never expires");
  }
  return lifetime;
}

absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view text, absl::string_view flag) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": not an RFC 3339 time (e.g. 2026-01-31T00:00:00Z): \"", text, "\""));
  }
  return time;
}

const std::string* LastValue(const std::vector<std::string>& values) {
  return values.empty() ? nullptr : &values.back();
}

}  // namespace dedicated::dictl
