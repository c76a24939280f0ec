#pragma once
// Admission and replica choice for one instance: each replica runs at most its configuration's
// max_concurrency requests (catalog); a request that finds every replica busy waits in a bounded FIFO
// queue until a slot frees or its deadline passes (the caller answers 429 with Retry-After then).
//
// Picking: the least-loaded replica (in_flight / limit) among the healthy ones the request has not tried
// yet; ties rotate so equal replicas share the load. A replica that failed (connection refused, 5xx) is
// unhealthy for a back-off that doubles per consecutive failure (1 s .. 30 s) and is skipped while a
// healthy one is left; a success makes it healthy again. When every untried replica is unhealthy they
// are used anyway (better a try than a certain failure).
//
// Thread-safe. Grants to waiters are delivered through their callback, outside the lock, on the thread
// that released the slot; callers hop to their own executor.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dedicated::gateway {

struct ReplicaSpec {
  std::string replica_id;
  std::string endpoint;
  int64_t max_concurrency = 1;
};

// One replica as admission sees it. Fields other than the spec are guarded by the owning Admission.
class Replica {
 public:
  explicit Replica(ReplicaSpec spec) : spec_(std::move(spec)) {}
  const std::string& id() const { return spec_.replica_id; }
  const std::string& endpoint() const { return spec_.endpoint; }

 private:
  friend class Admission;
  ReplicaSpec spec_;
  int64_t in_flight_ = 0;
  int consecutive_failures_ = 0;
  absl::Time unhealthy_until_ = absl::InfinitePast();
  bool removed_ = false;
};

// The replica a request holds a slot on; nullptr when the instance has no replica it may try.
using Grant = std::function<void(std::shared_ptr<Replica>)>;

// Pure choice among candidates, exposed for tests. Returns an index into `loads` or -1.
struct ReplicaLoad {
  int64_t in_flight = 0;
  int64_t limit = 1;
  bool healthy = true;
  bool excluded = false;
};
int PickReplica(const std::vector<ReplicaLoad>& loads, uint64_t rotation);

class Admission {
 public:
  explicit Admission(size_t max_queue) : max_queue_(max_queue) {}

  // Installs the current replica set (from the routing table): replicas already known keep their load
  // and health; replicas gone are forgotten (their in-flight requests finish; releasing them is a no-op).
  // Waiters are re-examined: new replicas may serve them, and with no replica left they get nullptr.
  void SetReplicas(const std::vector<ReplicaSpec>& specs, absl::Time now);

  enum class Outcome { kGranted, kQueued, kQueueFull, kNoReplica };
  struct Result {
    Outcome outcome;
    std::shared_ptr<Replica> replica;  // kGranted
    uint64_t ticket = 0;               // kQueued: for CancelWait
  };
  // A slot now, or a place in the queue (then `on_grant` is called once, later, unless CancelWait wins).
  // `tried` lists replica ids this request already failed on (failover): they are not picked again.
  Result Acquire(const std::vector<std::string>& tried, absl::Time now, Grant on_grant);
  // True if the waiter was still queued (it is removed and never granted); false if a grant is on its way.
  bool CancelWait(uint64_t ticket);

  void Release(const std::shared_ptr<Replica>& replica, absl::Time now);
  void MarkFailure(const std::shared_ptr<Replica>& replica, absl::Time now);
  void MarkSuccess(const std::shared_ptr<Replica>& replica);

  int64_t in_flight() const;
  int64_t queued() const;
  size_t replica_count() const;
  bool IsHealthy(const std::string& replica_id, absl::Time now) const;

 private:
  struct Waiter {
    uint64_t ticket;
    std::vector<std::string> tried;
    Grant on_grant;
  };
  // -1 when no replica has a free slot for `tried`; sets *any_candidate when some untried replica exists.
  int PickLocked(const std::vector<std::string>& tried, absl::Time now, bool* any_candidate)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Grants queued waiters while slots are free; returns the callbacks to run outside the lock.
  std::vector<std::function<void()>> DrainQueueLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunOutsideLock(std::vector<std::function<void()>> calls);

  const size_t max_queue_;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Replica>> replicas_ ABSL_GUARDED_BY(mu_);
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t rotation_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dedicated::gateway
