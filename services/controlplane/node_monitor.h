#pragma once
// Notices nodes that stopped heartbeating. Every controlplane replica runs one; the UPDATE that marks a
// node DOWN is atomic, so exactly one of them acts on each node. The instances on a DOWN node are
// reconciled (ERROR if nothing serves any more) and their operations woken.

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/controlplane/controlplane_config.h"

namespace dedicated::controlplane {

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
