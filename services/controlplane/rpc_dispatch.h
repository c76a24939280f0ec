#pragma once
// The RPC edge of the callback API: each unary handler hands its work to the DB executor and returns at
// once; the executor thread finishes the reactor. This keeps blocking database calls off gRPC's reactor
// threads, authenticates and authorizes every call before its handler runs (authorizer.h), turns
// absl::Status into grpc::Status in one place, and records metrics and writes the API log line
// (call_log.h) for every call.

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "services/common/grpc_status.h"
#include "services/controlplane/authorizer.h"
#include "services/controlplane/call_log.h"
#include "services/controlplane/metrics.h"
#include "services/controlplane/request_context.h"
#include "services/storage/db_executor.h"

namespace dedicated::controlplane {

class RpcDispatcher {
 public:
  RpcDispatcher(storage::DbExecutor* executor, Metrics* metrics, Authorizer* authorizer)
      : executor_(executor), metrics_(metrics), authorizer_(authorizer) {}

  // Starts the record of a call (call_log.h): its request id is the client's x-request-id or a new one,
  // and goes back to the client in the initial and the trailing metadata (a call that fails before any
  // response may reach the client as trailers only), so that both ends can quote the same id.
  CallRecord Begin(grpc::CallbackServerContext* ctx, const char* method) {
    CallRecord call;
    call.method = method;
    call.start = absl::Now();
    call.request_id = RequestIdFromMetadata(*ctx);
    ctx->AddInitialMetadata(kRequestIdKey, call.request_id);
    ctx->AddTrailingMetadata(kRequestIdKey, call.request_id);
    return call;
  }

  // The request context of an authenticated call, or the status to finish it with. Notes the caller's
  // account in `call`.
  absl::StatusOr<RequestContext> Authenticate(grpc::CallbackServerContext* ctx, CallRecord& call) {
    absl::StatusOr<RequestContext> rc = RequestContextFromMetadata(*ctx, call.request_id);
    if (!rc.ok()) return rc.status();
    if (absl::Status s = authorizer_->Authenticate(*ctx, *rc); !s.ok()) return s;
    call.account_id = rc->principal.subject_id;
    call.account_type = rc->principal.subject_type;
    return rc;
  }

  // For calls answered without the database (the catalog): authenticate and authorize on the calling
  // thread.
  absl::StatusOr<RequestContext> AuthorizeInline(grpc::CallbackServerContext* ctx, CallRecord& call,
                                                 const google::protobuf::Message& request) {
    absl::StatusOr<RequestContext> rc = Authenticate(ctx, call);
    if (!rc.ok()) return rc.status();
    if (absl::Status s = authorizer_->Authorize(nullptr, *rc, call.method, request); !s.ok()) return s;
    return rc;
  }

  // For server streams: authorizes the start on the calling thread and logs it. A stream can run for
  // days, so its line is written when it opens (or is refused), and no RPC latency is recorded for it.
  template <typename Request>
  absl::Status OpenStream(grpc::CallbackServerContext* ctx, const char* method, const Request& request) {
    CallRecord call = Begin(ctx, method);
    absl::Status status = AuthorizeInline(ctx, call, request).status();
    NoteCallIds<Request, Request>(request, nullptr, call);
    LogCall(call, status, absl::Now() - call.start, "rpc stream open");
    return status;
  }

  // `method` is "Service.Method" (the authorization table's key and the metrics label).
  // fn(DbSession&, const RequestContext&) -> absl::StatusOr<Response>.
  template <typename Request, typename Response, typename Fn>
  grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* ctx, const char* method, const Request* request,
                                     Response* response, Fn&& fn) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    CallRecord call = Begin(ctx, method);
    absl::StatusOr<RequestContext> rc = Authenticate(ctx, call);
    if (!rc.ok()) {
      NoteCallIds<Request, Response>(*request, nullptr, call);
      Finish(reactor, call, rc.status());
      return reactor;
    }
    // `call` is copied into the task: the refusal below still needs it if the executor does not take it.
    bool queued = executor_->Submit([this, ctx, reactor, request, response, call, rc = std::move(*rc),
                                     fn = std::forward<Fn>(fn)](storage::DbSession& db) mutable {
      if (ctx->IsCancelled()) {
        NoteCallIds<Request, Response>(*request, nullptr, call);
        Finish(reactor, call, absl::CancelledError("the client cancelled the call or its deadline passed"));
        return;
      }
      if (absl::Status s = authorizer_->Authorize(&db, rc, call.method, *request); !s.ok()) {
        NoteCallIds<Request, Response>(*request, nullptr, call);
        Finish(reactor, call, s);
        return;
      }
      absl::StatusOr<Response> result = fn(db, rc);
      if (result.ok()) *response = std::move(*result);
      NoteCallIds<Request, Response>(*request, result.ok() ? response : nullptr, call);
      Finish(reactor, call, result.status());
    });
    if (!queued) {
      NoteCallIds<Request, Response>(*request, nullptr, call);
      Finish(reactor, call, absl::ResourceExhaustedError("controlplane overloaded: request queue is full; retry"));
    }
    return reactor;
  }

  // Every unary call ends here: metrics, the API log line, then the reactor.
  void Finish(grpc::ServerUnaryReactor* reactor, const CallRecord& call, const absl::Status& status) {
    absl::Duration elapsed = absl::Now() - call.start;
    metrics_->RecordRpc(call.method, std::string(absl::StatusCodeToString(status.code())),
                        absl::ToDoubleSeconds(elapsed));
    LogCall(call, status, elapsed);
    reactor->Finish(ToGrpcStatus(status));
  }

  Authorizer* authorizer() const { return authorizer_; }

 private:
  storage::DbExecutor* executor_;
  Metrics* metrics_;
  Authorizer* authorizer_;
};

}  // namespace dedicated::controlplane
