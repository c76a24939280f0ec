#pragma once
// Notices nodes that stopped heartbeating. Every controlplane replica runs one; the UPDATE that marks a
// node DOWN is atomic, so exactly one of them acts on each node. The instances on a DOWN node are
// reconciled (ERROR if nothing serves any more) and their operations woken.

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/controlplane/controlplane_config.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

// One liveness check in one transaction: marks nodes silent for config.node_timeout DOWN (`down`), ends
// their replicas' billing at their last heartbeat, reconciles the instances on them (`affected`; their
// operations are the caller's to wake). NodeMonitor runs it every period; tests call it directly.
absl::Status MarkSilentNodesDownOnce(storage::DbSession& db, const ControlplaneConfig& config,
                                     std::vector<std::string>* down, std::vector<std::string>* affected);

class NodeMonitor {
 public:
  NodeMonitor(const ControlplaneConfig* config, std::function<void()> on_change)
      : config_(config), on_change_(std::move(on_change)) {}
  ~NodeMonitor() { Stop(); }

  void Start();
  void Stop();

 private:
  void Loop();

  const ControlplaneConfig* config_;
  std::function<void()> on_change_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dedicated::controlplane
