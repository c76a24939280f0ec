#pragma once
// Template bodies of DbSession (kept out of db_session.h to keep it readable).

#include <string>

#include "services/storage/db_errors.h"

namespace dedicated::storage {

template <typename Fn>
absl::Status DbSession::InTransaction(absl::string_view name, Fn&& fn) {
  return RetryAborted<pqxx::work>(name, fn);
}

template <typename Fn>
absl::Status DbSession::ReadOneStatement(absl::string_view name, Fn&& fn) {
  return RetryAborted<pqxx::nontransaction>(name, fn);
}

template <typename Fn>
absl::Status DbSession::Autocommit(absl::string_view name, Fn&& fn) {
  return RetryAborted<pqxx::nontransaction>(name, fn);
}

template <typename Tx, typename Fn>
absl::Status DbSession::RetryAborted(absl::string_view name, Fn& fn) {
  // ABORTED (serialization failure, deadlock, a row taken concurrently) means "run the transaction
  // again"; do that a few times here so callers only see it when contention persists.
  absl::Status status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    status = TransactionOnce<Tx>(name, fn);
    if (status.code() != absl::StatusCode::kAborted) return status;
  }
  return status;
}

template <typename Tx, typename Fn>
absl::Status DbSession::TransactionOnce(absl::string_view name, Fn& fn) {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  try {
    Tx tx(**conn, std::string(name));
    if (clock_ != nullptr) PinClock(tx);
    absl::Status status = fn(tx, *this);
    if (!status.ok()) {
      tx.abort();
      return status;
    }
    tx.commit();
    return absl::OkStatus();
  } catch (const pqxx::broken_connection& e) {
    Reset();
    return StatusFromDbException(e, name);
  } catch (const pqxx::in_doubt_error& e) {
    Reset();
    return StatusFromDbException(e, name);
  } catch (const std::exception& e) {
    absl::Status status = StatusFromDbException(e, name);
    // Admin shutdown (57P01) and friends leave the connection useless even if libpq has not noticed.
    if (status.code() == absl::StatusCode::kUnavailable) Reset();
    return status;
  }
}

}  // namespace dedicated::storage
