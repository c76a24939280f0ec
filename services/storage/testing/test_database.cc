#include "services/storage/testing/test_database.h"

#include <cstdio>
#include <cstdlib>

#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "services/common/ids.h"
#include "services/storage/migrations.h"

namespace dedicated::storage {

std::string TestDatabase::AdminDsn() {
  const char* url = std::getenv("DI_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    std::fprintf(stderr,
                 "DI_TEST_DATABASE_URL is not set: run the tests through tests/run.sh, which starts a "
                 "throwaway PostgreSQL cluster and sets it.\n");
    std::abort();
  }
  return url;
}

std::string DsnWithDatabase(const std::string& base, const std::string& database) {
  // postgresql://user@host:port/db?params
  std::string dsn = base;
  std::string params;
  if (auto q = dsn.find('?'); q != std::string::npos) {
    params = dsn.substr(q);
    dsn = dsn.substr(0, q);
  }
  auto scheme = dsn.find("://");
  auto slash = dsn.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash != std::string::npos) dsn = dsn.substr(0, slash);
  return dsn + "/" + database + params;
}

TestDatabase::TestDatabase(bool migrate) {
  name_ = "t_" + absl::AsciiStrToLower(NewId("db_").substr(3));
  {
    pqxx::connection admin(AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  }
  dsn_ = DsnWithDatabase(AdminDsn(), name_);
  if (migrate) {
    auto applied = ApplyMigrations(dsn_, EmbeddedMigrations());
    if (!applied.ok()) {
      std::fprintf(stderr, "migrations failed: %s\n", applied.status().ToString().c_str());
      std::abort();
    }
  }
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: could not drop test database %s: %s\n", name_.c_str(), e.what());
  }
}

}  // namespace dedicated::storage
