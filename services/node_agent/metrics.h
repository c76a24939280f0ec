#pragma once
// The node-agent's Prometheus metrics. Families are built once at start-up into the process registry;
// the exposer (main.cc) serves them on --metrics-listen.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace dedicated::node_agent {

class Metrics {
 public:
  // Engine states as they appear in the `state` label of node_agent_engines.
  static constexpr const char* kEngineStates[] = {"starting", "ready", "stopping", "failed", "stopped"};

  Metrics(prometheus::Registry& registry, int64_t gpus_total);

  // Counts per state; states missing from the map are set to 0.
  void SetEngines(const std::map<std::string, int64_t>& count_by_state);
  void SetGpusUsed(int64_t gpus);
  void HeartbeatFailed() { heartbeat_failures_.Increment(); }
  void EngineStarted() { engine_starts_.Increment(); }
  // `outcome`: "stopped" (on request) or "failed" (exited on its own or never became ready).
  void EngineExited(const std::string& outcome);

  double heartbeat_failures() const { return heartbeat_failures_.Value(); }
  double engine_starts() const { return engine_starts_.Value(); }

 private:
  prometheus::Family<prometheus::Gauge>& engines_;
  std::map<std::string, prometheus::Gauge*> engines_by_state_;
  prometheus::Gauge& gpus_;
  prometheus::Gauge& gpus_used_;
  prometheus::Counter& heartbeat_failures_;
  prometheus::Counter& engine_starts_;
  prometheus::Family<prometheus::Counter>& engine_exits_;
};

}  // namespace dedicated::node_agent
