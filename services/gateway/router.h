#pragma once
// The gateway's routing state: the controlplane's RouteTable (instances, their status and routable
// replicas) indexed by instance id, with one Admission per instance that lives across table updates
// (so in-flight counts, queues and replica health survive every refresh).

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedicated/v1/route_service.pb.h"
#include "services/gateway/admission.h"

namespace dedicated::gateway {

struct InstanceState {
  v1::InstanceRoute route;  // replicas as listed by the controlplane
  std::shared_ptr<Admission> admission;
};

class RouteSnapshot {
 public:
  // nullptr when unknown.
  std::shared_ptr<const InstanceState> Find(const std::string& instance_id) const {
    auto it = instances.find(instance_id);
    return it == instances.end() ? nullptr : it->second;
  }
  std::string version;
  absl::flat_hash_map<std::string, std::shared_ptr<const InstanceState>> instances;
};

class Router {
 public:
  explicit Router(size_t max_queue_per_instance) : max_queue_(max_queue_per_instance) {}

  // Installs a new table from the controlplane.
  void Update(const v1::RouteTable& table, absl::Time now);
  // nullptr until the first table arrived.
  std::shared_ptr<const RouteSnapshot> Current() const;

 private:
  const size_t max_queue_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const RouteSnapshot> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::gateway
