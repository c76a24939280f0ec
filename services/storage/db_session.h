#pragma once
// One PostgreSQL connection with its prepared statements, reconnecting on demand. Not thread-safe: a
// session belongs to one thread at a time (DbExecutor hands them out).

#include <memory>
#include <string>
#include <unordered_set>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/clock.h"

namespace dedicated::storage {

// A named SQL statement with $n parameters. Define them as constants next to the code that uses them.
struct Sql {
  const char* name;
  const char* text;
};

class DbSession {
 public:
  explicit DbSession(std::string dsn) : dsn_(std::move(dsn)) {}

  // The live connection, connecting first if needed. UNAVAILABLE when the database cannot be reached.
  absl::StatusOr<pqxx::connection*> Connection();

  // Runs a prepared statement (preparing it on this connection on first use).
  template <typename... Args>
  pqxx::result Exec(pqxx::transaction_base& tx, const Sql& sql, Args&&... args) {
    Prepare(sql);
    return tx.exec_prepared(sql.name, std::forward<Args>(args)...);
  }

  // Runs `fn(tx, *this)` in a read-write transaction and commits. A lost connection is reset so the next
  // call reconnects. Exceptions become statuses (db_errors.h); `fn` returning an error rolls back.
  // ABORTED outcomes are retried up to 3 times, so `fn` must be safe to run again (assign, don't append).
  template <typename Fn>
  absl::Status InTransaction(absl::string_view name, Fn&& fn);

  // Runs `fn(tx, *this)` without BEGIN/COMMIT (pqxx::nontransaction: each statement commits by itself).
  // For reads that are one statement, where the transaction would triple the round trips to the
  // database for nothing. `fn` must not write. Errors and retries as in InTransaction.
  template <typename Fn>
  absl::Status ReadOneStatement(absl::string_view name, Fn&& fn);

  // Runs `fn(tx, *this)` without BEGIN/COMMIT, where each statement may write and commits by itself: for
  // hot paths whose statements need no atomicity together (a heartbeat's touch and its read of what it
  // reports). A retried `fn` runs its statements again, so each must be idempotent.
  template <typename Fn>
  absl::Status Autocommit(absl::string_view name, Fn&& fn);

  // Forgets the connection (e.g. after it broke); the next use reconnects.
  void Reset();

  // With a clock, every transaction of this session sees di_now() (migrations/V008) = clock->Now(): the
  // time of state transitions, billable intervals and node heartbeats. Tests inject a FakeClock to be
  // exact. Without one (production) di_now() is the database's transaction time, which every controlplane
  // replica shares. Costs one statement per transaction, so only set it where exactness is needed.
  void set_clock(const Clock* clock) { clock_ = clock; }

 private:
  void Prepare(const Sql& sql);
  void PinClock(pqxx::transaction_base& tx);
  template <typename Tx, typename Fn>
  absl::Status RetryAborted(absl::string_view name, Fn& fn);
  template <typename Tx, typename Fn>
  absl::Status TransactionOnce(absl::string_view name, Fn& fn);

  std::string dsn_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unordered_set<std::string> prepared_;
  const Clock* clock_ = nullptr;
};

}  // namespace dedicated::storage

#include "services/storage/db_session_inl.h"
