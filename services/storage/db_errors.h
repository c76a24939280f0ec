#pragma once
// libpqxx throws; nothing above the storage layer sees an exception. Every exception is translated here,
// through one table from SQLSTATE to status code, chosen by what the caller should do next.

#include <exception>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace dedicated::storage {

// `context` names the operation, e.g. "insert instance"; it prefixes the message.
absl::Status StatusFromDbException(const std::exception& e, absl::string_view context);

// The code for a SQLSTATE: 23505 -> ALREADY_EXISTS, 23503 -> FAILED_PRECONDITION,
// 23514/22xxx -> INVALID_ARGUMENT, 40001/40P01 -> ABORTED, 08xxx/57Pxx/53xxx -> UNAVAILABLE, else INTERNAL.
absl::StatusCode CodeForSqlState(absl::string_view sqlstate);

}  // namespace dedicated::storage
