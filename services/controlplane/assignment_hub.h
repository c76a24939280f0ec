#pragma once
// Fans node assignments out to the agents' WatchAssignments streams. One thread watches the
// assignment_version of every subscribed node (one query for all of them) and pushes a fresh snapshot to
// a stream whenever its node's version moved. In-process changes poke it at once; changes made by another
// controlplane replica are seen on the next poll.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedicated/v1/node_service.pb.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

class AssignmentSink {
 public:
  virtual ~AssignmentSink() = default;
  // Called on the hub thread with the hub's lock held: must not block and must not call back into the hub.
  virtual void Push(const v1::Assignments& assignments) = 0;
  // The hub is shutting down: finish the stream.
  virtual void Close() = 0;
};

class AssignmentHub {
 public:
  using SnapshotFn = std::function<absl::StatusOr<v1::Assignments>(storage::DbSession&, const std::string& node_id)>;

  AssignmentHub(std::string dsn, absl::Duration poll, SnapshotFn snapshot);
  ~AssignmentHub();

  void Start();
  // Closes every stream and stops the thread.
  void Stop();

  // The sink receives the current snapshot soon after subscribing, then every change.
  void Subscribe(const std::string& node_id, AssignmentSink* sink);
  // After this returns, the sink is never called again.
  void Unsubscribe(AssignmentSink* sink);
  // Something changed: look now.
  void Poke();

  int subscribers() const;

 private:
  // A poke waits at least this long after the previous poll, so that a burst of pokes costs one poll. Each
  // poll reads every node's version (1.4 ms of PostgreSQL and the parsing of 1000 rows here at 1000 nodes):
  // at 20 ms the issue-4 bench polled 50 times a second. An engine takes seconds to load, so 100 ms more
  // before an agent hears of its new replica is invisible; the CPU is not.
  static constexpr absl::Duration kMinPokeGap = absl::Milliseconds(100);

  void Loop();
  void PollOnce(storage::DbSession& db);

  const std::string dsn_;
  const absl::Duration poll_;
  SnapshotFn snapshot_;
  mutable absl::Mutex mu_;
  // node id -> sinks and the version each last received (-1: nothing yet).
  std::map<std::string, std::map<AssignmentSink*, int64_t>> sinks_ ABSL_GUARDED_BY(mu_);
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dedicated::controlplane
