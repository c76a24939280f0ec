#include "services/storage/db_session.h"

#include "services/common/log.h"
#include "services/storage/db_errors.h"

namespace dedicated::storage {

absl::StatusOr<pqxx::connection*> DbSession::Connection() {
  if (conn_ != nullptr && conn_->is_open()) return conn_.get();
  Reset();
  try {
    conn_ = std::make_unique<pqxx::connection>(dsn_);
  } catch (const std::exception& e) {
    // The DSN may carry a password: log the failure, never the DSN.
    LogWarning("database connect failed", {{"error", std::string(e.what()).substr(0, 200)}});
    conn_.reset();
    return absl::UnavailableError("database unavailable: cannot connect");
  }
  return conn_.get();
}

void DbSession::Prepare(const Sql& sql) {
  if (prepared_.contains(sql.name)) return;
  conn_->prepare(sql.name, sql.text);
  prepared_.insert(sql.name);
}

void DbSession::PinClock(pqxx::transaction_base& tx) {
  // Session-wide (is_local false) so that it also holds for pqxx::nontransaction; every transaction sets
  // it again first, so it is never stale.
  tx.exec_params("SELECT set_config('di.now', $1, false)",
                 absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", clock_->Now(), absl::UTCTimeZone()));
}

void DbSession::Reset() {
  conn_.reset();
  prepared_.clear();
}

}  // namespace dedicated::storage
