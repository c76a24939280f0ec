#pragma once
// One controlplane process: gRPC API (+ health and reflection), operation workers, node liveness,
// assignment streams and metrics, wired together. Tests start it in-process on port 0.

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "services/catalog/catalog.h"
#include "services/common/clock.h"
#include "services/controlplane/controlplane_config.h"

namespace prometheus {
class Exposer;
}

namespace dedicated::controlplane {

class AssignmentHub;
class Authorizer;
class IamApi;
class IamCache;
class RouteCache;
class GrpcParts;
class InstanceApi;
class Metrics;
class NodeApi;
class NodeMonitor;
class OperationRunner;
class OperationSteps;
class RpcDispatcher;
class ProcessWakeups;

class Controlplane {
 public:
  Controlplane(ControlplaneConfig config, std::shared_ptr<const catalog::Catalog> catalog,
               const Clock* clock = &SystemClock::Get());
  ~Controlplane();

  // Binds the listen address (port 0 picks one) and starts every background worker.
  absl::Status Start();
  // Graceful: stops taking calls, lets in-flight calls finish (up to shutdown_grace), stops the workers
  // after their current step, closes node streams. Safe to call twice.
  void Shutdown();

  int port() const { return port_; }
  std::string address() const;

 private:
  ControlplaneConfig config_;
  std::shared_ptr<const catalog::Catalog> catalog_;
  const Clock* clock_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;

  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<ProcessWakeups> wakeups_;
  std::unique_ptr<InstanceApi> instance_api_;
  std::unique_ptr<NodeApi> node_api_;
  std::unique_ptr<OperationSteps> steps_;
  std::unique_ptr<OperationRunner> runner_;
  std::unique_ptr<NodeMonitor> node_monitor_;
  std::unique_ptr<AssignmentHub> hub_;
  std::unique_ptr<IamCache> iam_cache_;
  std::unique_ptr<RouteCache> route_cache_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<IamApi> iam_api_;
  std::unique_ptr<GrpcParts> grpc_;
};

}  // namespace dedicated::controlplane
