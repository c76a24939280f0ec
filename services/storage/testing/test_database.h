#pragma once
// A fresh, migrated database per test fixture, inside the throwaway cluster that tests/run.sh starts.
// The admin DSN comes from DI_TEST_DATABASE_URL; there is no fake database.

#include <string>

namespace dedicated::storage {

class TestDatabase {
 public:
  // Creates database "t_<random>" and applies the embedded migrations (unless `migrate` is false).
  // Aborts the test binary with a clear message when DI_TEST_DATABASE_URL is unset.
  explicit TestDatabase(bool migrate = true);
  ~TestDatabase();  // drops the database
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }
  // The cluster's admin DSN (database "postgres").
  static std::string AdminDsn();

 private:
  std::string name_;
  std::string dsn_;
};

// DSN of `base` with the database name replaced.
std::string DsnWithDatabase(const std::string& base, const std::string& database);

}  // namespace dedicated::storage
