#include "services/storage/migrations.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/log.h"
#include "services/storage/db_errors.h"

namespace dedicated::storage {
namespace {

// Any constant shared by all controlplanes; "dimigrat" in ASCII.
constexpr int64_t kMigrationLockKey = 0x64696d6967726174;

constexpr char kCreateTable[] = R"sql(
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    file_name  text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  ))sql";

}  // namespace

int MigrationVersion(const std::string& file_name) {
  if (file_name.size() < 2 || file_name[0] != 'V') return -1;
  auto sep = file_name.find("__");
  if (sep == std::string::npos) return -1;
  int version;
  if (!absl::SimpleAtoi(file_name.substr(1, sep - 1), &version) || version <= 0) return -1;
  return version;
}

absl::StatusOr<int> ApplyMigrations(const std::string& dsn, const std::vector<Migration>& migrations) {
  std::set<int> known;
  for (const Migration& m : migrations) {
    int v = MigrationVersion(m.file_name);
    if (v < 0) return absl::InvalidArgumentError(absl::StrCat("bad migration file name: ", m.file_name));
    if (!known.insert(v).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate migration version: ", m.file_name));
    }
  }
  try {
    pqxx::connection conn(dsn);
    int applied = 0;
    // One transaction for everything: either the schema moves to the newest version or not at all.
    pqxx::work tx(conn, "migrate");
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec(kCreateTable);
    std::set<int> done;
    for (const auto& row : tx.exec("SELECT version FROM schema_migrations")) done.insert(row[0].as<int>());
    for (int v : done) {
      if (!known.contains(v)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "database has schema version ", v, " which this binary does not know; upgrade the binary"));
      }
    }
    std::vector<const Migration*> ordered;
    for (const Migration& m : migrations) ordered.push_back(&m);
    std::sort(ordered.begin(), ordered.end(), [](const Migration* a, const Migration* b) {
      return MigrationVersion(a->file_name) < MigrationVersion(b->file_name);
    });
    for (const Migration* m : ordered) {
      int v = MigrationVersion(m->file_name);
      if (done.contains(v)) continue;
      tx.exec(m->sql);
      tx.exec_params("INSERT INTO schema_migrations (version, file_name) VALUES ($1, $2)", v, m->file_name);
      LogInfo("migration applied", {{"file", m->file_name}});
      ++applied;
    }
    tx.commit();
    return applied;
  } catch (const std::exception& e) {
    return StatusFromDbException(e, "apply migrations");
  }
}

}  // namespace dedicated::storage
