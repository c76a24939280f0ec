#include "services/gateway/router.h"

namespace dedicated::gateway {

void Router::Update(const v1::RouteTable& table, absl::Time now) {
  std::shared_ptr<const RouteSnapshot> previous = Current();
  auto next = std::make_shared<RouteSnapshot>();
  next->version = table.version();
  for (const v1::InstanceRoute& route : table.instances()) {
    auto state = std::make_shared<InstanceState>();
    state->route = route;
    std::shared_ptr<const InstanceState> old = previous == nullptr ? nullptr : previous->Find(route.instance_id());
    state->admission = old != nullptr ? old->admission : std::make_shared<Admission>(max_queue_);
    std::vector<ReplicaSpec> specs;
    // Only an ACTIVE instance takes requests; its replicas (READY, not draining) are the candidates.
    if (route.status() == v1::Instance::ACTIVE) {
      for (const v1::ReplicaRoute& r : route.replicas()) {
        specs.push_back(ReplicaSpec{r.replica_id(), r.endpoint(), r.max_concurrency()});
      }
    }
    state->admission->SetReplicas(specs, now);
    next->instances.emplace(route.instance_id(), std::move(state));
  }
  // Instances that disappeared: waiters get "no replica" (SetReplicas with none).
  if (previous != nullptr) {
    for (const auto& [id, state] : previous->instances) {
      if (!next->instances.contains(id)) state->admission->SetReplicas({}, now);
    }
  }
  absl::MutexLock lock(&mu_);
  current_ = std::move(next);
}

std::shared_ptr<const RouteSnapshot> Router::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace dedicated::gateway
