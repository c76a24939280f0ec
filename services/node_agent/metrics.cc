#include "services/node_agent/metrics.h"

namespace dedicated::node_agent {

Metrics::Metrics(prometheus::Registry& registry, int64_t gpus_total)
    : engines_(prometheus::BuildGauge()
                   .Name("node_agent_engines")
                   .Help("Engine processes known to the agent, by state")
                   .Register(registry)),
      gpus_(
          prometheus::BuildGauge().Name("node_agent_gpus").Help("GPUs of this node").Register(registry).Add({})),
      gpus_used_(prometheus::BuildGauge()
                     .Name("node_agent_gpus_used")
                     .Help("GPUs held by running engines")
                     .Register(registry)
                     .Add({})),
      heartbeat_failures_(prometheus::BuildCounter()
                              .Name("node_agent_heartbeat_failures_total")
                              .Help("Heartbeats the controlplane did not accept")
                              .Register(registry)
                              .Add({})),
      engine_starts_(prometheus::BuildCounter()
                         .Name("node_agent_engine_starts_total")
                         .Help("Engine processes launched")
                         .Register(registry)
                         .Add({})),
      engine_exits_(prometheus::BuildCounter()
                        .Name("node_agent_engine_exits_total")
                        .Help("Engine processes that ended, by outcome (stopped on request, failed)")
                        .Register(registry)) {
  // All label values exist from the start so that dashboards see zeros rather than gaps.
  for (const char* state : kEngineStates) engines_by_state_[state] = &engines_.Add({{"state", state}});
  engine_exits_.Add({{"outcome", "stopped"}});
  engine_exits_.Add({{"outcome", "failed"}});
  gpus_.Set(static_cast<double>(gpus_total));
}

void Metrics::SetEngines(const std::map<std::string, int64_t>& count_by_state) {
  for (auto& [state, gauge] : engines_by_state_) {
    auto it = count_by_state.find(state);
    gauge->Set(it == count_by_state.end() ? 0.0 : static_cast<double>(it->second));
  }
}

void Metrics::SetGpusUsed(int64_t gpus) { gpus_used_.Set(static_cast<double>(gpus)); }

void Metrics::EngineExited(const std::string& outcome) { engine_exits_.Add({{"outcome", outcome}}).Increment(); }

}  // namespace dedicated::node_agent
