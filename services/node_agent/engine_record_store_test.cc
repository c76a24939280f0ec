#include "services/node_agent/engine_record_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/node_agent/process_identity.h"
#include "services/node_agent/test_util.h"

namespace dedicated::node_agent {
namespace {

using ::dedicated::node_agent::v1::EngineRecord;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

EngineRecord Record(const std::string& replica_id, int64_t pid) {
  EngineRecord r;
  r.set_replica_id(replica_id);
  r.set_pid(pid);
  r.set_start_time_ticks(12345);
  r.set_boot_id("boot");
  r.set_port(20001);
  r.add_gpu_indices(2);
  r.add_gpu_indices(3);
  r.add_argv("vllm");
  r.add_argv("serve");
  return r;
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(EngineRecordStoreTest, WritesReadsAndRemovesRecordsLeavingNoTemporaryFiles) {
  const std::string dir = testing::NewTempDir("records");
  auto store = EngineRecordStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Write(Record("r-1", 100)).ok());
  EngineRecord updated = Record("r-1", 100);
  updated.set_ready(true);
  ASSERT_TRUE((*store)->Write(updated).ok());
  ASSERT_TRUE((*store)->Write(Record("r-2", 200)).ok());
  EXPECT_THAT(FilesIn(dir + "/engines"), ElementsAre("r-1.textproto", "r-2.textproto"));

  std::vector<EngineRecord> records = (*store)->LoadAll();
  ASSERT_EQ(records.size(), 2u);
  std::sort(records.begin(), records.end(), [](auto& a, auto& b) { return a.replica_id() < b.replica_id(); });
  EXPECT_EQ(records[0].pid(), 100);
  EXPECT_TRUE(records[0].ready());
  EXPECT_EQ(records[0].start_time_ticks(), 12345u);
  EXPECT_THAT(records[0].gpu_indices(), ElementsAre(2, 3));
  EXPECT_THAT(records[0].argv(), ElementsAre("vllm", "serve"));
  EXPECT_EQ(records[1].replica_id(), "r-2");

  (*store)->Remove("r-1");
  (*store)->Remove("never-written");
  EXPECT_THAT(FilesIn(dir + "/engines"), ElementsAre("r-2.textproto"));
}

TEST(EngineRecordStoreTest, DropsUnreadableRecordsAndInterruptedWrites) {
  const std::string dir = testing::NewTempDir("records");
  auto store = EngineRecordStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Write(Record("good", 100)).ok());
  std::ofstream(dir + "/engines/garbage.textproto") << "this is { not a record";
  std::ofstream(dir + "/engines/empty.textproto") << "";
  std::ofstream(dir + "/engines/good.textproto.tmp") << "replica_id: \"half";
  std::vector<EngineRecord> records = (*store)->LoadAll();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].replica_id(), "good");
  EXPECT_THAT(FilesIn(dir + "/engines"), ElementsAre("good.textproto"));
}

TEST(EngineRecordStoreTest, ReplicaIdsCannotEscapeTheDirectory) {
  const std::string dir = testing::NewTempDir("records");
  auto store = EngineRecordStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Write(Record("../../evil", 1)).ok());
  EXPECT_THAT((*store)->PathOf("../../evil"), HasSubstr(dir + "/engines/"));
  EXPECT_EQ(FilesIn(dir + "/engines").size(), 1u);
  std::vector<EngineRecord> records = (*store)->LoadAll();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].replica_id(), "../../evil");
}

TEST(EngineRecordStoreTest, OneStorePerDirectory) {
  const std::string dir = testing::NewTempDir("records");
  auto first = EngineRecordStore::Open(dir);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = EngineRecordStore::Open(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another node-agent"));
  first->reset();
  EXPECT_TRUE(EngineRecordStore::Open(dir).ok());
}

// A child that sleeps until killed; the caller reaps it.
pid_t SpawnSleeper() {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  return pid;
}

TEST(ProcessIdentityTest, OpensTheSameProcessOnly) {
  pid_t child = SpawnSleeper();
  ASSERT_GT(child, 0);
  absl::StatusOr<ProcessIdentity> identity = IdentifyProcess(child);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->boot_id, BootId());
  EXPECT_FALSE(identity->boot_id.empty());

  absl::StatusOr<int> fd = OpenProcess(*identity);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_FALSE(WaitForExit(*fd, absl::ZeroDuration()));

  // The same pid with another start time is another process: a reused pid.
  ProcessIdentity reused = *identity;
  reused.start_time_ticks += 1;
  EXPECT_EQ(OpenProcess(reused).status().code(), absl::StatusCode::kFailedPrecondition);
  ProcessIdentity other_boot = *identity;
  other_boot.boot_id = "another-boot";
  EXPECT_EQ(OpenProcess(other_boot).status().code(), absl::StatusCode::kNotFound);

  kill(child, SIGKILL);
  EXPECT_TRUE(WaitForExit(*fd, absl::Seconds(5)));
  // A zombie still holds its pid but is no engine to adopt.
  EXPECT_EQ(OpenProcess(*identity).status().code(), absl::StatusCode::kNotFound);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(OpenProcess(*identity).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(IdentifyProcess(child).status().code(), absl::StatusCode::kNotFound);
  close(*fd);
}

}  // namespace
}  // namespace dedicated::node_agent
