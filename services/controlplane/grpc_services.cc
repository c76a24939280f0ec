#include "services/controlplane/grpc_services.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/controlplane/validation.h"

namespace dedicated::controlplane {

using storage::DbSession;

#define DI_DISPATCH(METHOD, API_CALL)                                                            \
  return rpc_->Dispatch(ctx, METHOD, resp, [this, req](DbSession& db, const RequestContext& rc) { \
    return API_CALL(db, rc, *req);                                                               \
  })

// The hottest read: batched with its concurrent peers (get_batcher.h). InstanceApi::Get is the
// same read for one id, for callers outside the RPC path.
grpc::ServerUnaryReactor* InstanceServiceImpl::Get(grpc::CallbackServerContext* ctx, const v1::GetInstanceRequest* req,
                                                   v1::Instance* resp) {
  return gets_->Get(ctx, req, resp);
}
grpc::ServerUnaryReactor* InstanceServiceImpl::List(grpc::CallbackServerContext* ctx,
                                                    const v1::ListInstancesRequest* req,
                                                    v1::ListInstancesResponse* resp) {
  DI_DISPATCH("InstanceService.List", api_->List);
}
grpc::ServerUnaryReactor* InstanceServiceImpl::Create(grpc::CallbackServerContext* ctx,
                                                      const v1::CreateInstanceRequest* req, v1::Operation* resp) {
  DI_DISPATCH("InstanceService.Create", api_->Create);
}
grpc::ServerUnaryReactor* InstanceServiceImpl::Update(grpc::CallbackServerContext* ctx,
                                                      const v1::UpdateInstanceRequest* req, v1::Operation* resp) {
  DI_DISPATCH("InstanceService.Update", api_->Update);
}
grpc::ServerUnaryReactor* InstanceServiceImpl::Delete(grpc::CallbackServerContext* ctx,
                                                      const v1::DeleteInstanceRequest* req, v1::Operation* resp) {
  DI_DISPATCH("InstanceService.Delete", api_->Delete);
}
grpc::ServerUnaryReactor* InstanceServiceImpl::Start(grpc::CallbackServerContext* ctx,
                                                     const v1::StartInstanceRequest* req, v1::Operation* resp) {
  DI_DISPATCH("InstanceService.Start", api_->Start);
}
grpc::ServerUnaryReactor* InstanceServiceImpl::Stop(grpc::CallbackServerContext* ctx,
                                                    const v1::StopInstanceRequest* req, v1::Operation* resp) {
  DI_DISPATCH("InstanceService.Stop", api_->Stop);
}
grpc::ServerUnaryReactor* InstanceServiceImpl::ListOperations(grpc::CallbackServerContext* ctx,
                                                              const v1::ListInstanceOperationsRequest* req,
                                                              v1::ListInstanceOperationsResponse* resp) {
  DI_DISPATCH("InstanceService.ListOperations", api_->ListOperations);
}

grpc::ServerUnaryReactor* OperationServiceImpl::Get(grpc::CallbackServerContext* ctx,
                                                    const v1::GetOperationRequest* req, v1::Operation* resp) {
  DI_DISPATCH("OperationService.Get", api_->GetOperation);
}
grpc::ServerUnaryReactor* OperationServiceImpl::Cancel(grpc::CallbackServerContext* ctx,
                                                       const v1::CancelOperationRequest* req, v1::Operation* resp) {
  DI_DISPATCH("OperationService.Cancel", api_->CancelOperation);
}

#undef DI_DISPATCH

grpc::ServerUnaryReactor* ModelServiceImpl::Get(grpc::CallbackServerContext* ctx, const v1::GetModelRequest* req,
                                                v1::Model* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::Time start = absl::Now();
  absl::Status status;
  if (req->model_id().empty()) {
    status = absl::InvalidArgumentError("model_id: is required");
  } else if (const auto* m = catalog_->Find(req->model_id()); m == nullptr) {
    status = absl::NotFoundError(absl::StrCat("model ", req->model_id(), " not found"));
  } else {
    *resp = m->model();
  }
  rpc_->Finish(reactor, "ModelService.Get", start, status);
  return reactor;
}

grpc::ServerUnaryReactor* ModelServiceImpl::List(grpc::CallbackServerContext* ctx, const v1::ListModelsRequest* req,
                                                 v1::ListModelsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::Time start = absl::Now();
  int64_t page_size;
  absl::Status status = ValidatePageSize("page_size", req->page_size(), &page_size);
  // The catalog is small and fixed: the token is simply the index of the next model.
  size_t begin = 0;
  if (status.ok() && !req->page_token().empty()) {
    if (!absl::SimpleAtoi(req->page_token(), &begin) || begin >= catalog_->models().size()) {
      status = absl::InvalidArgumentError("page_token: malformed; pass next_page_token of the previous page");
    }
  }
  if (status.ok()) {
    const auto& models = catalog_->models();
    size_t end = std::min(models.size(), begin + static_cast<size_t>(page_size));
    for (size_t i = begin; i < end; ++i) *resp->add_models() = models[i];
    if (end < models.size()) resp->set_next_page_token(absl::StrCat(end));
  }
  rpc_->Finish(reactor, "ModelService.List", start, status);
  return reactor;
}

grpc::ServerUnaryReactor* NodeServiceImpl::Register(grpc::CallbackServerContext* ctx,
                                                    const v1::RegisterNodeRequest* req,
                                                    v1::RegisterNodeResponse* resp) {
  return rpc_->Dispatch(ctx, "NodeService.Register", resp,
                        [this, req](DbSession& db, const RequestContext&) { return api_->Register(db, *req); });
}

grpc::ServerUnaryReactor* NodeServiceImpl::Heartbeat(grpc::CallbackServerContext* ctx,
                                                     const v1::HeartbeatRequest* req, v1::HeartbeatResponse* resp) {
  return rpc_->Dispatch(ctx, "NodeService.Heartbeat", resp,
                        [this, req](DbSession& db, const RequestContext&) { return api_->Heartbeat(db, *req); });
}

grpc::ServerUnaryReactor* NodeServiceImpl::ReportReplicaStatus(grpc::CallbackServerContext* ctx,
                                                               const v1::ReportReplicaStatusRequest* req,
                                                               v1::ReportReplicaStatusResponse* resp) {
  return rpc_->Dispatch(ctx, "NodeService.ReportReplicaStatus", resp,
                        [this, req](DbSession& db, const RequestContext&) { return api_->Report(db, *req); });
}

namespace {

// One agent's assignment stream. Writes are serialised: while a write is in flight only the newest
// pending snapshot is kept (snapshots are complete, so older ones are worthless).
class AssignmentStream final : public grpc::ServerWriteReactor<v1::Assignments>, public AssignmentSink {
 public:
  AssignmentStream(AssignmentHub* hub, std::string node_id) : hub_(hub) { hub_->Subscribe(node_id, this); }

  void Push(const v1::Assignments& assignments) override {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      if (writing_) {
        pending_ = assignments;
        return;
      }
      writing_ = true;
      current_ = assignments;
    }
    StartWrite(&current_);
  }

  void Close() override { FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controlplane shutting down")); }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    bool start_next = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (deferred_finish_.has_value()) {
        finish = deferred_finish_;
      } else if (!ok) {
        if (!finishing_) finish = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken");
        finishing_ = true;
      } else if (pending_.has_value()) {
        current_ = std::move(*pending_);
        pending_.reset();
        writing_ = true;
        start_next = true;
      }
    }
    if (finish.has_value()) {
      Finish(*finish);
    } else if (start_next) {
      StartWrite(&current_);
    }
  }

  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }

  void OnDone() override {
    hub_->Unsubscribe(this);
    delete this;
  }

 private:
  // Finish exactly once, and never while a write is in flight (it is finished from OnWriteDone then).
  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      pending_.reset();
      if (writing_) {
        deferred_finish_ = status;
        return;
      }
    }
    Finish(status);
  }

  AssignmentHub* hub_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> deferred_finish_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::Assignments> pending_ ABSL_GUARDED_BY(mu_);
  v1::Assignments current_;
};

class FailedStream final : public grpc::ServerWriteReactor<v1::Assignments> {
 public:
  explicit FailedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::Assignments>* NodeServiceImpl::WatchAssignments(grpc::CallbackServerContext* ctx,
                                                                              const v1::WatchAssignmentsRequest* req) {
  if (absl::Status s = ValidateId("node_id", req->node_id()); !s.ok()) return new FailedStream(ToGrpcStatus(s));
  return new AssignmentStream(hub_, req->node_id());
}

}  // namespace dedicated::controlplane
