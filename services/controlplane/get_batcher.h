#pragma once
// Coalesces concurrent InstanceService.Get calls. Gets queue here; at most one drain task per database
// connection runs at a time, and each answers every Get queued when it starts with one
// SELECT ... WHERE id = ANY($1). Under load this turns N round trips and N thread hand-offs into one
// (the classic "data loader" batching); with a single caller the batch is one Get and nothing changes.
// Per-call checks (authentication, authorization, cancellation) happen per Get, not per batch.

#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "dedicated/v1/instance.pb.h"
#include "dedicated/v1/instance_service.pb.h"
#include "services/controlplane/request_context.h"
#include "services/controlplane/rpc_dispatch.h"
#include "services/storage/db_executor.h"

namespace dedicated::controlplane {

class GetBatcher {
 public:
  // `max_drains`: how many batches may be in flight at once (at most the executor's connections).
  GetBatcher(storage::DbExecutor* executor, RpcDispatcher* rpc, int max_drains)
      : executor_(executor), rpc_(rpc), max_drains_(max_drains) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetInstanceRequest* req,
                                v1::Instance* resp);

 private:
  struct Pending {
    grpc::CallbackServerContext* ctx;
    grpc::ServerUnaryReactor* reactor;
    const v1::GetInstanceRequest* req;
    v1::Instance* resp;
    CallRecord call;
    RequestContext rc;
    absl::Status denied;  // the authorization outcome, decided in Drain
  };
  void Drain(storage::DbSession& db);

  storage::DbExecutor* executor_;
  RpcDispatcher* rpc_;
  const int max_drains_;
  absl::Mutex mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  int drains_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dedicated::controlplane
