#pragma once
// GatewayServer: the HTTP/1.1 front (Boost.Beast, one C++20 coroutine per connection, N event loops each
// on its own I/O thread) and the proxy to engines. Authentication and routing read immutable snapshots that the
// controlplane streams replace (SetAccessSnapshot, router()), so a request takes no lock beyond a
// shared_ptr copy and its instance's admission.
//
// Per request: read the header (idle, header and body timeouts, header and body limits) -> route ->
// authenticate the key -> parse the JSON body (model, stream) -> check the role on the instance's folder
// -> instance ACTIVE? -> a slot on the least-loaded replica (or wait, then 429) -> forward. A connection
// failure, a 5xx or a broken answer before the first byte reached the client fails over to the next
// replica; after that the client connection is closed (never a retry that could duplicate output).

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "services/gateway/metrics.h"
#include "services/gateway/options.h"
#include "services/gateway/router.h"
#include "services/iam/snapshot.h"

namespace dedicated::gateway {

class GatewayServer {
 public:
  GatewayServer(Options options, Metrics* metrics);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // Binds --listen and starts the I/O threads.
  absl::Status Start();
  // Stops accepting, lets requests in flight finish for up to shutdown_grace, then closes everything.
  void Stop();
  int port() const { return port_; }

  void SetAccessSnapshot(std::shared_ptr<const iam::IamSnapshot> snapshot);
  std::shared_ptr<const iam::IamSnapshot> access_snapshot() const;
  Router& router() { return router_; }

  class Impl;

 private:
  const Options options_;
  Metrics* metrics_;
  Router router_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const iam::IamSnapshot> iam_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace dedicated::gateway
