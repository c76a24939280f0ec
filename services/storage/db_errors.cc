#include "services/storage/db_errors.h"

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dedicated::storage {

absl::StatusCode CodeForSqlState(absl::string_view s) {
  if (s == "23505") return absl::StatusCode::kAlreadyExists;       // unique_violation
  if (s == "23503") return absl::StatusCode::kFailedPrecondition;  // foreign_key_violation
  if (s == "23514" || s == "23502") return absl::StatusCode::kInvalidArgument;  // check, not null
  if (absl::StartsWith(s, "22")) return absl::StatusCode::kInvalidArgument;     // data exception
  if (s == "40001" || s == "40P01") return absl::StatusCode::kAborted;          // retry the transaction
  if (s == "55P03") return absl::StatusCode::kAborted;                          // lock_not_available
  if (s == "57014") return absl::StatusCode::kDeadlineExceeded;                 // query_canceled
  if (absl::StartsWith(s, "08") || absl::StartsWith(s, "57P") || absl::StartsWith(s, "53")) {
    return absl::StatusCode::kUnavailable;  // connection, shutdown, resources: retry the call
  }
  return absl::StatusCode::kInternal;
}

absl::Status StatusFromDbException(const std::exception& e, absl::string_view context) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(context, ": database unavailable"));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(context, ": database connection lost during commit"));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    absl::StatusCode code = CodeForSqlState(sql->sqlstate());
    if (code == absl::StatusCode::kUnavailable) {
      return absl::UnavailableError(absl::StrCat(context, ": database unavailable"));
    }
    // The first line of the server's message; never the query text (it may carry values).
    absl::string_view what = sql->what();
    what = what.substr(0, what.find('\n'));
    return absl::Status(code, absl::StrCat(context, ": ", what));
  }
  return absl::InternalError(absl::StrCat(context, ": ", e.what()));
}

}  // namespace dedicated::storage
