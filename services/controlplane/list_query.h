#pragma once
// The filter, order and page token of InstanceService.List and ListOperations.
//
// filter:   conditions joined by AND, each <field> = "<value>" (or '<value>'); fields: status, name,
//           model_id. Example: status = "ACTIVE" AND model_id = "gemma-3-4b-it".
// order_by: "created_at" (default), "created_at desc", "name", "name desc".
// page_token: opaque to clients; internally base64url of the sort key of the last row returned plus a
//           hash of the query, so a token cannot be replayed against a different filter or order.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dedicated::controlplane {

struct InstanceFilter {
  std::optional<std::string> status;
  std::optional<std::string> name;
  std::optional<std::string> model_id;
};

enum class InstanceOrder { kCreatedAsc, kCreatedDesc, kNameAsc, kNameDesc };

absl::StatusOr<InstanceFilter> ParseInstanceFilter(absl::string_view filter);
absl::StatusOr<InstanceOrder> ParseInstanceOrder(absl::string_view order_by);

// The position after the last row of a page.
struct PageCursor {
  std::string sort_key;  // created_at in microseconds since the epoch, or the name
  std::string id;        // tie-breaker
};

// `query_fingerprint` identifies the query (folder, filter, order); a token only works for the same one.
std::string EncodePageToken(const PageCursor& cursor, absl::string_view query_fingerprint);
// An empty token is "first page" (nullopt). Anything malformed or made for another query is
// INVALID_ARGUMENT naming `field`.
absl::StatusOr<std::optional<PageCursor>> DecodePageToken(absl::string_view field, absl::string_view token,
                                                          absl::string_view query_fingerprint);

}  // namespace dedicated::controlplane
