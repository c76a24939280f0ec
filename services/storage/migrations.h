#pragma once
// Numbered SQL migrations (migrations/V001__name.sql), applied in order and recorded in
// schema_migrations. Safe to run from several processes at once: a transaction-level advisory lock
// serialises them, and each one re-reads what is applied after taking the lock.

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"

namespace dedicated::storage {

struct Migration {
  std::string file_name;  // "V001__initial.sql"
  std::string sql;
};

// The files of migrations/ compiled into the binary (generated at build time).
const std::vector<Migration>& EmbeddedMigrations();

// Applies the migrations not yet recorded. Returns how many were applied. A migration file whose name
// does not parse, or a database that has a version this binary does not know, is an error.
absl::StatusOr<int> ApplyMigrations(const std::string& dsn, const std::vector<Migration>& migrations);

// The version number in "V012__x.sql" (12), or -1.
int MigrationVersion(const std::string& file_name);

}  // namespace dedicated::storage
