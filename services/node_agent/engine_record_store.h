#pragma once
// The node-agent's state directory: one record per engine it runs (dedicated.node_agent.v1.EngineRecord,
// text format, <dir>/engines/<replica_id>.textproto), so that a restarted agent finds the engines of its
// predecessor and adopts or stops them. Writes are atomic (temporary file, fsync, rename), so a crash
// leaves either the old record or the new one, never half of one.
//
// The directory is locked (flock on <dir>/lock) for the agent's lifetime: two agents sharing it would
// adopt and stop each other's engines. The kernel drops the lock when the agent dies, however it dies.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dedicated/node_agent/v1/engine_record.pb.h"

namespace dedicated::node_agent {

class EngineRecordStore {
 public:
  // Creates the directory if needed and takes its lock. FAILED_PRECONDITION if another process holds it.
  static absl::StatusOr<std::unique_ptr<EngineRecordStore>> Open(const std::string& dir);
  ~EngineRecordStore();

  EngineRecordStore(const EngineRecordStore&) = delete;
  EngineRecordStore& operator=(const EngineRecordStore&) = delete;

  // Replaces the replica's record.
  absl::Status Write(const dedicated::node_agent::v1::EngineRecord& record);
  // Deletes the replica's record, if any.
  void Remove(const std::string& replica_id);
  // Every readable record. Unreadable ones (and temporary files of an interrupted write) are deleted with
  // a warning: without a record nothing can be adopted, and a guess could signal the wrong process.
  std::vector<dedicated::node_agent::v1::EngineRecord> LoadAll();

  const std::string& dir() const { return dir_; }
  std::string PathOf(const std::string& replica_id) const;

 private:
  EngineRecordStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}

  const std::string dir_;
  const int lock_fd_;
};

}  // namespace dedicated::node_agent
