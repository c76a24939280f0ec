#include "services/controlplane/list_query.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dedicated/v1/instance.pb.h"
#include "services/common/ids.h"

namespace dedicated::controlplane {
namespace {

absl::Status FilterError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "filter: ", what, " (expected <field> = \"<value>\" joined by AND; fields: status, name, model_id)"));
}

// Splits on the keyword AND (any case) outside quotes.
absl::StatusOr<std::vector<std::string>> SplitConditions(absl::string_view filter) {
  std::vector<std::string> parts;
  std::string current;
  char quote = 0;
  for (size_t i = 0; i < filter.size(); ++i) {
    char c = filter[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      current.push_back(c);
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      current.push_back(c);
      continue;
    }
    bool at_word_start = i == 0 || filter[i - 1] == ' ';
    if (at_word_start && i + 3 <= filter.size() && absl::AsciiStrToUpper(filter.substr(i, 3)) == "AND" &&
        (i + 3 == filter.size() || filter[i + 3] == ' ')) {
      parts.push_back(current);
      current.clear();
      i += 2;
      continue;
    }
    current.push_back(c);
  }
  if (quote != 0) return FilterError("unterminated quote");
  parts.push_back(current);
  return parts;
}

std::string QueryHash(const PageCursor& cursor, absl::string_view fingerprint) {
  return Sha256Hex(absl::StrCat(fingerprint, "\x1f", cursor.sort_key, "\x1f", cursor.id)).substr(0, 16);
}

}  // namespace

absl::StatusOr<InstanceFilter> ParseInstanceFilter(absl::string_view filter) {
  InstanceFilter out;
  if (absl::StripAsciiWhitespace(filter).empty()) return out;
  if (filter.size() > 1000) return FilterError("longer than 1000 characters");
  auto parts = SplitConditions(filter);
  if (!parts.ok()) return parts.status();
  for (const std::string& raw : *parts) {
    absl::string_view cond = absl::StripAsciiWhitespace(raw);
    if (cond.empty()) return FilterError("empty condition");
    auto eq = cond.find('=');
    if (eq == absl::string_view::npos) return FilterError(absl::StrCat("no '=' in \"", cond, "\""));
    std::string field = std::string(absl::StripAsciiWhitespace(cond.substr(0, eq)));
    absl::string_view value = absl::StripAsciiWhitespace(cond.substr(eq + 1));
    if (value.size() < 2 || (value.front() != '"' && value.front() != '\'') || value.back() != value.front()) {
      return FilterError(absl::StrCat("value of ", field, " must be quoted"));
    }
    std::string unquoted(value.substr(1, value.size() - 2));
    std::optional<std::string>* slot = nullptr;
    if (field == "status") {
      dedicated::v1::Instance::Status parsed;
      if (!dedicated::v1::Instance::Status_Parse(unquoted, &parsed) ||
          parsed == dedicated::v1::Instance::STATUS_UNSPECIFIED) {
        return FilterError(absl::StrCat("unknown status \"", unquoted, "\""));
      }
      slot = &out.status;
    } else if (field == "name") {
      slot = &out.name;
    } else if (field == "model_id") {
      slot = &out.model_id;
    } else {
      return FilterError(absl::StrCat("unknown field \"", field, "\""));
    }
    if (slot->has_value()) return FilterError(absl::StrCat(field, " given twice"));
    *slot = std::move(unquoted);
  }
  return out;
}

absl::StatusOr<InstanceOrder> ParseInstanceOrder(absl::string_view order_by) {
  std::string o = absl::AsciiStrToLower(absl::StripAsciiWhitespace(order_by));
  std::vector<std::string> words = absl::StrSplit(o, ' ', absl::SkipEmpty());
  std::string field = words.empty() ? "created_at" : words[0];
  bool desc = false;
  if (words.size() == 2 && (words[1] == "desc" || words[1] == "asc")) {
    desc = words[1] == "desc";
  } else if (words.size() > 1) {
    return absl::InvalidArgumentError("order_by: expected \"<field> [asc|desc]\"");
  }
  if (field == "created_at") return desc ? InstanceOrder::kCreatedDesc : InstanceOrder::kCreatedAsc;
  if (field == "name") return desc ? InstanceOrder::kNameDesc : InstanceOrder::kNameAsc;
  return absl::InvalidArgumentError(
      absl::StrCat("order_by: unknown field \"", field, "\" (created_at or name, optionally desc)"));
}

std::string EncodePageToken(const PageCursor& cursor, absl::string_view query_fingerprint) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1\x1f", cursor.sort_key, "\x1f", cursor.id, "\x1f", QueryHash(cursor, query_fingerprint)));
}

absl::StatusOr<std::optional<PageCursor>> DecodePageToken(absl::string_view field, absl::string_view token,
                                                          absl::string_view query_fingerprint) {
  if (token.empty()) return std::optional<PageCursor>();
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": malformed or not issued for this query; pass next_page_token of the previous page unchanged"));
  };
  std::string raw;
  if (token.size() > 2048 || !absl::WebSafeBase64Unescape(token, &raw)) return invalid();
  std::vector<std::string> parts = absl::StrSplit(raw, '\x1f');
  if (parts.size() != 4 || parts[0] != "v1") return invalid();
  PageCursor cursor{parts[1], parts[2]};
  if (QueryHash(cursor, query_fingerprint) != parts[3]) return invalid();
  return std::optional<PageCursor>(cursor);
}

}  // namespace dedicated::controlplane
