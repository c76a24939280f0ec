#include "services/controlplane/get_batcher.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "services/controlplane/instance_store.h"

namespace dedicated::controlplane {
namespace {
constexpr char kMethod[] = "InstanceService.Get";
// A bound on one statement's size; a deeper queue is served by the next drain.
constexpr size_t kMaxBatch = 256;
}  // namespace

grpc::ServerUnaryReactor* GetBatcher::Get(grpc::CallbackServerContext* ctx, const v1::GetInstanceRequest* req,
                                          v1::Instance* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  CallRecord call = rpc_->Begin(ctx, kMethod);
  call.instance_id = req->instance_id();
  absl::StatusOr<RequestContext> rc = rpc_->Authenticate(ctx, call);
  if (!rc.ok()) {
    rpc_->Finish(reactor, call, rc.status());
    return reactor;
  }
  bool start_drain = false;
  {
    absl::MutexLock lock(&mu_);
    pending_.push_back(Pending{ctx, reactor, req, resp, std::move(call), std::move(*rc)});
    if (drains_ < max_drains_) {
      ++drains_;
      start_drain = true;
    }
  }
  if (start_drain && !executor_->Submit([this](storage::DbSession& db) { Drain(db); })) {
    // The executor is saturated: answer what waits here rather than let it hang.
    std::vector<Pending> refused;
    {
      absl::MutexLock lock(&mu_);
      --drains_;
      if (drains_ == 0) refused.swap(pending_);
    }
    for (Pending& p : refused) {
      rpc_->Finish(p.reactor, p.call,
                   absl::ResourceExhaustedError("controlplane overloaded: request queue is full; retry"));
    }
  }
  return reactor;
}

void GetBatcher::Drain(storage::DbSession& db) {
  while (true) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      if (pending_.empty()) {
        --drains_;
        return;
      }
      size_t n = std::min(pending_.size(), kMaxBatch);
      batch.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.begin() + n));
      pending_.erase(pending_.begin(), pending_.begin() + n);
    }
    // Authorization per Get, before the read (from memory once the instance's folder is known).
    std::vector<std::string> ids;
    ids.reserve(batch.size());
    for (Pending& p : batch) {
      if (p.ctx->IsCancelled()) continue;
      p.denied = rpc_->authorizer()->Authorize(&db, p.rc, kMethod, *p.req);
      if (p.denied.ok()) ids.push_back(p.req->instance_id());
    }
    std::map<std::string, InstanceRow> rows;
    absl::Status status = absl::OkStatus();
    if (!ids.empty()) {
      status = db.ReadOneStatement("get instances", [&](pqxx::nontransaction& tx, storage::DbSession& s) {
        rows = LoadInstances(tx, s, ids);
        return absl::OkStatus();
      });
    }
    for (Pending& p : batch) {
      if (p.ctx->IsCancelled()) {
        rpc_->Finish(p.reactor, p.call,
                     absl::CancelledError("the client cancelled the call or its deadline passed"));
      } else if (!p.denied.ok()) {
        rpc_->Finish(p.reactor, p.call, p.denied);
      } else if (!status.ok()) {
        rpc_->Finish(p.reactor, p.call, status);
      } else if (auto it = rows.find(p.req->instance_id()); it == rows.end()) {
        rpc_->Finish(p.reactor, p.call,
                     absl::NotFoundError(absl::StrCat("instance ", p.req->instance_id(), " not found")));
      } else {
        *p.resp = it->second.proto;
        rpc_->Finish(p.reactor, p.call, absl::OkStatus());
      }
    }
  }
}

}  // namespace dedicated::controlplane
