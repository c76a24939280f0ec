#pragma once
// The gateway's two streams from the controlplane: the IAM snapshot (AccessSnapshotService.Watch) and
// the routing table (RouteService.Watch). Each runs on its own thread with the blocking gRPC client:
// read, hand every message to its callback, and on any end (controlplane restarting, network) reconnect
// with a back-off of 100 ms doubling to 5 s. Nothing is cleared on a disconnect: the gateway keeps
// serving from the last snapshot and table (static stability).

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "dedicated/v1/access_snapshot_service.pb.h"
#include "dedicated/v1/route_service.pb.h"

namespace dedicated::gateway {

class ControlplaneWatch {
 public:
  struct Callbacks {
    std::function<void(const v1::AccessSnapshot&)> on_access_snapshot;
    std::function<void(const v1::RouteTable&)> on_route_table;
    // Called with true when a stream delivers its first message after (re)connecting, false when it ends.
    std::function<void(const std::string& stream, bool connected)> on_connection;
  };

  ControlplaneWatch(std::string target, std::string credential, Callbacks callbacks);
  ~ControlplaneWatch();

  void Start();
  // Cancels both streams and joins the threads.
  void Stop();

 private:
  template <typename Message>
  void Run(const std::string& name,
           std::function<std::unique_ptr<grpc::ClientReader<Message>>(grpc::ClientContext*)> open,
           const std::function<void(const Message&)>& on_message);

  const std::string credential_;
  const Callbacks callbacks_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<grpc::ClientContext*> live_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace dedicated::gateway
