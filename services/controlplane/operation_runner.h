#pragma once
// Background workers that drive operations to a terminal state. Each worker claims runnable operations
// with a lease, runs one step of each in its own transaction (re-checking the lease under a row lock),
// then gives the lease back with the time of the next step. A worker or process that dies mid-step loses
// nothing: its transaction rolls back and the lease lapses, so another worker (in this process after a
// restart, or in another controlplane replica) takes the operation over.

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/controlplane/controlplane_config.h"
#include "services/controlplane/metrics.h"
#include "services/controlplane/operation_steps.h"

namespace dedicated::controlplane {

class OperationRunner {
 public:
  // `metrics` (may be null) counts operations started and finished; `on_assignments_changed` is called
  // after a step changed some node's replicas.
  OperationRunner(const ControlplaneConfig* config, OperationSteps* steps, Metrics* metrics,
                  std::function<void()> on_assignments_changed);
  ~OperationRunner();

  void Start();
  // Lets running steps finish, then joins the workers. Leases of operations not yet done are simply left
  // to lapse (or are released by the next step elsewhere).
  void Stop();
  void Wake();

  const std::string& owner() const { return owner_; }

  // Claims and runs at most one step; false when there was nothing to do. Public so that tests can drive
  // operations step by step without threads.
  bool RunOne(storage::DbSession& db);

 private:
  // A worker claims up to this many runnable operations in one transaction and steps them one by one:
  // under load that saves a claim transaction per step, and leases (seconds) outlast a few steps (ms).
  static constexpr int kClaimBatch = 4;
  // How long a step that failed with ABORTED waits before it runs again (other errors: 1 s).
  static constexpr absl::Duration kAbortedPause = absl::Milliseconds(50);

  void Loop();
  // Claims up to `limit` operations and runs one step of each; returns how many were claimed.
  int RunClaimed(storage::DbSession& db, int limit);
  void RunStep(storage::DbSession& db, const std::string& id);

  const ControlplaneConfig* config_;
  OperationSteps* steps_;
  Metrics* const metrics_;
  std::function<void()> on_assignments_changed_;
  const std::string owner_;
  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace dedicated::controlplane
