// Storage against the real PostgreSQL of tests/run.sh: migrations, schema invariants, error mapping,
// reconnection.
#include <pthread.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "services/storage/db_errors.h"
#include "services/storage/db_executor.h"
#include "services/storage/db_session.h"
#include "services/storage/migrations.h"
#include "services/storage/testing/test_database.h"

namespace dedicated::storage {
namespace {

using ::testing::HasSubstr;

constexpr Sql kInsertInstance{"test_insert_instance", R"sql(
  INSERT INTO instances (id, folder_id, name, model_id, configuration, replica_count, status)
  VALUES ($1, $2, $3, 'gemma-3-4b-it', $4, 1, 'CREATING'))sql"};

// Instances belong to folders (a foreign key): the folder is created on first use.
absl::Status InsertInstance(DbSession& s, const std::string& id, const std::string& folder, const std::string& name,
                            const std::string& config = "S") {
  return s.InTransaction("insert instance", [&](pqxx::work& tx, DbSession& session) {
    tx.exec("INSERT INTO clouds (id, name) VALUES ('c1', 'c1') ON CONFLICT DO NOTHING");
    tx.exec_params("INSERT INTO folders (id, cloud_id, name) VALUES ($1, 'c1', $1) ON CONFLICT DO NOTHING", folder);
    session.Exec(tx, kInsertInstance, id, folder, name, config);
    return absl::OkStatus();
  });
}

TEST(Migrations, ApplyTwiceIsANoOp) {
  TestDatabase db(/*migrate=*/false);
  auto first = ApplyMigrations(db.dsn(), EmbeddedMigrations());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, static_cast<int>(EmbeddedMigrations().size()));
  auto second = ApplyMigrations(db.dsn(), EmbeddedMigrations());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 0);
}

TEST(Migrations, ConcurrentRunnersApplyEachVersionOnce) {
  TestDatabase db(/*migrate=*/false);
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<int>> results(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = ApplyMigrations(db.dsn(), EmbeddedMigrations()); });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    total += *r;
  }
  EXPECT_EQ(total, static_cast<int>(EmbeddedMigrations().size()));
  pqxx::connection conn(db.dsn());
  pqxx::work tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(),
            static_cast<int>(EmbeddedMigrations().size()));
}

TEST(Migrations, UnknownVersionInDatabaseIsRefused) {
  TestDatabase db;
  {
    pqxx::connection conn(db.dsn());
    pqxx::work tx(conn);
    tx.exec("INSERT INTO schema_migrations (version, file_name) VALUES (999, 'V999__future.sql')");
    tx.commit();
  }
  auto r = ApplyMigrations(db.dsn(), EmbeddedMigrations());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("999"));
}

TEST(Migrations, VersionParsing) {
  EXPECT_EQ(MigrationVersion("V001__initial.sql"), 1);
  EXPECT_EQ(MigrationVersion("V12__x.sql"), 12);
  EXPECT_EQ(MigrationVersion("001__x.sql"), -1);
  EXPECT_EQ(MigrationVersion("Vx__x.sql"), -1);
}

TEST(Schema, DuplicateLiveNameInFolderIsAlreadyExists) {
  TestDatabase db;
  DbSession s(db.dsn());
  ASSERT_TRUE(InsertInstance(s, "i1", "f1", "alpha").ok());
  absl::Status dup = InsertInstance(s, "i2", "f1", "alpha");
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  EXPECT_TRUE(InsertInstance(s, "i3", "f2", "alpha").ok()) << "same name in another folder is fine";
}

TEST(Schema, BadNameAndConfigurationAreRejectedByChecks) {
  TestDatabase db;
  DbSession s(db.dsn());
  EXPECT_EQ(InsertInstance(s, "i1", "f1", "Bad_Name").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InsertInstance(s, "i2", "f1", "ok-name", "XL").code(), absl::StatusCode::kInvalidArgument);
}

TEST(Schema, AtMostOneLiveOperationPerInstance) {
  TestDatabase db;
  DbSession s(db.dsn());
  ASSERT_TRUE(InsertInstance(s, "i1", "f1", "alpha").ok());
  pqxx::connection conn(db.dsn());
  auto insert_op = [&](const std::string& id) {
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO operations (id, kind, description, instance_id, resource_id, metadata) "
        "VALUES ($1, 'StartInstance', 'x', 'i1', 'f1', ''::bytea)",
        id);
    tx.commit();
  };
  insert_op("op1");
  EXPECT_THROW(insert_op("op2"), pqxx::unique_violation);
}

TEST(Schema, AGpuBelongsToOneReplicaAndIsFreedWithIt) {
  TestDatabase db;
  DbSession s(db.dsn());
  ASSERT_TRUE(InsertInstance(s, "i1", "f1", "alpha").ok());
  pqxx::connection conn(db.dsn());
  {
    pqxx::work tx(conn);
    tx.exec("INSERT INTO nodes (id, name, gpu_type, gpu_count, address, engine_kind, state) "
            "VALUES ('n1', 'node-1', 'H100-80GB', 1, '127.0.0.1', 'engine-sim', 'READY')");
    tx.exec("INSERT INTO gpus (node_id, gpu_index) VALUES ('n1', 0)");
    tx.exec("INSERT INTO replicas (id, instance_id, ordinal, node_id, configuration, desired_state, state) "
            "VALUES ('r1', 'i1', 0, 'n1', 'S', 'RUNNING', 'PENDING')");
    tx.exec("UPDATE gpus SET replica_id = 'r1' WHERE node_id = 'n1' AND gpu_index = 0 AND replica_id IS NULL");
    tx.commit();
  }
  {
    pqxx::work tx(conn);
    // A second running replica with the same ordinal is refused.
    EXPECT_THROW(tx.exec("INSERT INTO replicas (id, instance_id, ordinal, node_id, configuration, desired_state, state) "
                         "VALUES ('r2', 'i1', 0, 'n1', 'S', 'RUNNING', 'PENDING')"),
                 pqxx::unique_violation);
  }
  {
    pqxx::work tx(conn);
    tx.exec("DELETE FROM replicas WHERE id = 'r1'");
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM gpus WHERE replica_id IS NULL")[0].as<int>(), 1);
    tx.commit();
  }
}

TEST(DbErrors, SqlStateTable) {
  EXPECT_EQ(CodeForSqlState("23505"), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CodeForSqlState("23503"), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeForSqlState("23514"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeForSqlState("40001"), absl::StatusCode::kAborted);
  EXPECT_EQ(CodeForSqlState("57P01"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CodeForSqlState("08006"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CodeForSqlState("XX000"), absl::StatusCode::kInternal);
}

TEST(DbSession, ReconnectsAfterTheServerDropsTheConnection) {
  TestDatabase db;
  DbSession s(db.dsn());
  ASSERT_TRUE(InsertInstance(s, "i1", "f1", "alpha").ok());
  {
    pqxx::connection admin(db.dsn());
    pqxx::work tx(admin);
    tx.exec_params(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        db.name());
    tx.commit();
  }
  absl::Status after = InsertInstance(s, "i2", "f1", "beta");
  // The first call after the drop may see the broken connection; it must say UNAVAILABLE, and the
  // next call must work again on a fresh connection.
  if (!after.ok()) {
    EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable) << after;
    EXPECT_TRUE(InsertInstance(s, "i2", "f1", "beta").ok());
  }
  pqxx::connection conn(db.dsn());
  pqxx::work tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM instances")[0].as<int>(), 2);
}

TEST(DbExecutor, RunsOnPoolAndRefusesWhenFull) {
  TestDatabase db;
  DbExecutor executor(db.dsn(), /*threads=*/1, /*max_queue=*/1);
  absl::StatusOr<int> r = executor.Run([](DbSession& s) -> absl::StatusOr<int> {
    int value = 0;
    absl::Status st = s.InTransaction("select", [&](pqxx::work& tx, DbSession&) {
      value = tx.exec1("SELECT 41 + 1")[0].as<int>();
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
    return value;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);

  absl::Mutex mu;
  bool release = false;
  ASSERT_TRUE(executor.Submit([&](DbSession&) {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&release));
  }));
  // Wait until the single worker has taken the blocking task off the queue (busy() alone may still count
  // the previous task, which marks itself done before the worker is back), then fill the queue.
  while (executor.queued() != 0 || executor.busy() == 0) std::this_thread::yield();
  EXPECT_TRUE(executor.Submit([](DbSession&) {}));
  EXPECT_FALSE(executor.Submit([](DbSession&) {})) << "queue of 1 is full";
  absl::MutexLock lock(&mu);
  release = true;
}

// Operators tell the database threads from gRPC's by name (`top -H`, perf).
TEST(DbExecutor, ThreadsAreNamedForOperators) {
  TestDatabase db;
  DbExecutor executor(db.dsn(), /*threads=*/2, /*max_queue=*/4);
  std::set<std::string> names;
  for (int i = 0; i < 20 && names.size() < 2; ++i) {
    absl::StatusOr<std::string> name = executor.Run([](DbSession&) -> absl::StatusOr<std::string> {
      char buf[16] = {};
      pthread_getname_np(pthread_self(), buf, sizeof(buf));
      return std::string(buf);
    });
    ASSERT_TRUE(name.ok()) << name.status();
    names.insert(*name);
  }
  for (const std::string& name : names) EXPECT_THAT(name, testing::MatchesRegex("db-exec-[01]"));
  EXPECT_FALSE(names.empty());
}

}  // namespace
}  // namespace dedicated::storage
