#pragma once
// The RPC edge of the callback API: each unary handler hands its work to the DB executor and returns at
// once; the executor thread finishes the reactor. This keeps blocking database calls off gRPC's reactor
// threads, authenticates and authorizes every call before its handler runs (authorizer.h), turns
// absl::Status into grpc::Status in one place, and records metrics for every call.

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "services/common/grpc_status.h"
#include "services/controlplane/authorizer.h"
#include "services/controlplane/metrics.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_executor.h"

namespace dedicated::controlplane {

class RpcDispatcher {
 public:
  RpcDispatcher(storage::DbExecutor* executor, Metrics* metrics, Authorizer* authorizer)
      : executor_(executor), metrics_(metrics), authorizer_(authorizer) {}

  // The request context of an authenticated call, or the status to finish it with.
  absl::StatusOr<RequestContext> Authenticate(grpc::CallbackServerContext* ctx) {
    absl::StatusOr<RequestContext> rc = RequestContextFromMetadata(*ctx);
    if (!rc.ok()) return rc.status();
    if (absl::Status s = authorizer_->Authenticate(*ctx, *rc); !s.ok()) return s;
    return rc;
  }

  // For calls answered without the database (the catalog, stream starts): authenticate and authorize
  // on the calling thread.
  absl::StatusOr<RequestContext> AuthorizeInline(grpc::CallbackServerContext* ctx, const char* method,
                                                 const google::protobuf::Message& request) {
    absl::StatusOr<RequestContext> rc = Authenticate(ctx);
    if (!rc.ok()) return rc.status();
    if (absl::Status s = authorizer_->Authorize(nullptr, *rc, method, request); !s.ok()) return s;
    return rc;
  }

  // `method` is "Service.Method" (the authorization table's key and the metrics label).
  // fn(DbSession&, const RequestContext&) -> absl::StatusOr<Response>.
  template <typename Request, typename Response, typename Fn>
  grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* ctx, const char* method, const Request* request,
                                     Response* response, Fn&& fn) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::Time start = absl::Now();
    absl::StatusOr<RequestContext> rc = Authenticate(ctx);
    if (!rc.ok()) {
      Finish(reactor, method, start, rc.status());
      return reactor;
    }
    bool queued = executor_->Submit([this, ctx, reactor, method, request, response, start, rc = std::move(*rc),
                                     fn = std::forward<Fn>(fn)](storage::DbSession& db) mutable {
      if (ctx->IsCancelled()) {
        Finish(reactor, method, start, absl::CancelledError("the client cancelled the call or its deadline passed"));
        return;
      }
      if (absl::Status s = authorizer_->Authorize(&db, rc, method, *request); !s.ok()) {
        Finish(reactor, method, start, s);
        return;
      }
      absl::StatusOr<Response> result = fn(db, rc);
      if (result.ok()) *response = std::move(*result);
      Finish(reactor, method, start, result.status());
    });
    if (!queued) {
      Finish(reactor, method, start, absl::ResourceExhaustedError("controlplane overloaded: request queue is full; retry"));
    }
    return reactor;
  }

  void Finish(grpc::ServerUnaryReactor* reactor, const char* method, absl::Time start, const absl::Status& status) {
    metrics_->RecordRpc(method, std::string(absl::StatusCodeToString(status.code())),
                        absl::ToDoubleSeconds(absl::Now() - start));
    reactor->Finish(ToGrpcStatus(status));
  }

  Authorizer* authorizer() const { return authorizer_; }

 private:
  storage::DbExecutor* executor_;
  Metrics* metrics_;
  Authorizer* authorizer_;
};

}  // namespace dedicated::controlplane
