#include "services/controlplane/validation.h"

#include "absl/strings/str_cat.h"

namespace dedicated::controlplane {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLabelChar(char c) {
  return IsLower(c) || IsDigit(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == '\\' || c == '@';
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

}  // namespace

absl::Status ValidateName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return Invalid(field, "is required");
  if (name.size() > 63) return Invalid(field, "at most 63 characters");
  bool ok = IsLower(name.front()) && (name.size() == 1 || IsLower(name.back()) || IsDigit(name.back()));
  for (char c : name) ok = ok && (IsLower(c) || IsDigit(c) || c == '-');
  if (!ok) {
    return Invalid(field, absl::StrCat("\"", name,
                                       "\" does not match [a-z]([-a-z0-9]{0,61}[a-z0-9])? (lowercase letters, "
                                       "digits and hyphens; starts with a letter; does not end with a hyphen)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return Invalid(field, "is required");
  if (id.size() > 50) return Invalid(field, "at most 50 characters");
  for (char c : id) {
    if (!(IsLower(c) || IsDigit(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.')) {
      return Invalid(field, "only letters, digits, '-', '_' and '.' are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDescription(absl::string_view field, absl::string_view description) {
  if (description.size() > kMaxDescriptionLength) {
    return Invalid(field, absl::StrCat("at most ", kMaxDescriptionLength, " characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabels(absl::string_view field, const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.size() > kMaxLabels) {
    return Invalid(field, absl::StrCat("at most ", kMaxLabels, " labels, got ", labels.size()));
  }
  for (const auto& [key, value] : labels) {
    bool key_ok = !key.empty() && key.size() <= 63 && IsLower(key.front());
    for (char c : key) key_ok = key_ok && IsLabelChar(c);
    if (!key_ok) {
      return Invalid(field, absl::StrCat("key \"", key.substr(0, 80), "\" must match [a-z][-_./\\@0-9a-z]{0,62}"));
    }
    bool value_ok = value.size() <= 63;
    for (char c : value) value_ok = value_ok && IsLabelChar(c);
    if (!value_ok) {
      return Invalid(field, absl::StrCat("value of \"", key, "\" must match [-_./\\@0-9a-z]{0,63}"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePageSize(absl::string_view field, int64_t page_size, int64_t* out) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return Invalid(field, absl::StrCat("must be between 0 and ", kMaxPageSize, ", got ", page_size));
  }
  *out = page_size == 0 ? kDefaultPageSize : page_size;
  return absl::OkStatus();
}

absl::Status ValidateConfiguration(absl::string_view field, absl::string_view configuration) {
  if (configuration == "S" || configuration == "M" || configuration == "L") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": must be S, M or L, got \"", configuration, "\""));
}

absl::Status ValidateReplicaCount(absl::string_view field, int64_t replica_count) {
  if (replica_count >= 1 && replica_count <= kMaxReplicaCount) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be between 1 and ", kMaxReplicaCount, ", got ", replica_count));
}

}  // namespace dedicated::controlplane
