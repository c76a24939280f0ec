#include "services/controlplane/grpc_services.h"

#include <optional>

#include "services/controlplane/latest_value_writer.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/controlplane/validation.h"

namespace dedicated::controlplane {

using storage::DbSession;

#define DI_DISPATCH(METHOD, API_CALL)                                                            \
  return rpc_->Dispatch(ctx, METHOD, req, resp, [this, req](DbSession& db, const RequestContext& rc) { \
    return API_CALL(db, rc, *req);                                                                    \
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

#define DI_IAM_RPC(CLASS, NAME, REQ, RESP, LABEL, API_CALL)                                                  \
  grpc::ServerUnaryReactor* CLASS::NAME(grpc::CallbackServerContext* ctx, const v1::REQ* req, v1::RESP* resp) { \
    DI_DISPATCH(LABEL, API_CALL);                                                                               \
  }

DI_IAM_RPC(ResourceServiceImpl, GetCloud, GetCloudRequest, Cloud, "ResourceService.GetCloud", api_->GetCloud)
DI_IAM_RPC(ResourceServiceImpl, ListClouds, ListCloudsRequest, ListCloudsResponse, "ResourceService.ListClouds",
           api_->ListClouds)
DI_IAM_RPC(ResourceServiceImpl, CreateCloud, CreateCloudRequest, Operation, "ResourceService.CreateCloud",
           api_->CreateCloud)
DI_IAM_RPC(ResourceServiceImpl, GetFolder, GetFolderRequest, Folder, "ResourceService.GetFolder", api_->GetFolder)
DI_IAM_RPC(ResourceServiceImpl, ListFolders, ListFoldersRequest, ListFoldersResponse, "ResourceService.ListFolders",
           api_->ListFolders)
DI_IAM_RPC(ResourceServiceImpl, CreateFolder, CreateFolderRequest, Operation, "ResourceService.CreateFolder",
           api_->CreateFolder)
DI_IAM_RPC(ResourceServiceImpl, GetFolderQuota, GetFolderQuotaRequest, FolderQuota, "ResourceService.GetFolderQuota",
           quotas_->GetFolderQuota)
DI_IAM_RPC(ResourceServiceImpl, SetFolderQuota, SetFolderQuotaRequest, Operation, "ResourceService.SetFolderQuota",
           quotas_->SetFolderQuota)
DI_IAM_RPC(ServiceAccountServiceImpl, Get, GetServiceAccountRequest, ServiceAccount, "ServiceAccountService.Get",
           api_->GetServiceAccount)
DI_IAM_RPC(ServiceAccountServiceImpl, List, ListServiceAccountsRequest, ListServiceAccountsResponse,
           "ServiceAccountService.List", api_->ListServiceAccounts)
DI_IAM_RPC(ServiceAccountServiceImpl, Create, CreateServiceAccountRequest, ServiceAccount,
           "ServiceAccountService.Create", api_->CreateServiceAccount)
DI_IAM_RPC(NodeAdminServiceImpl, Get, GetNodeRequest, Node, "NodeAdminService.Get", api_->Get)
DI_IAM_RPC(NodeAdminServiceImpl, List, ListNodesRequest, ListNodesResponse, "NodeAdminService.List", api_->List)
DI_IAM_RPC(NodeAdminServiceImpl, Drain, DrainNodeRequest, Operation, "NodeAdminService.Drain", api_->Drain)
DI_IAM_RPC(NodeAdminServiceImpl, Undrain, UndrainNodeRequest, Operation, "NodeAdminService.Undrain", api_->Undrain)
DI_IAM_RPC(UserAccountServiceImpl, Get, GetUserAccountRequest, UserAccount, "UserAccountService.Get",
           api_->GetUserAccount)
DI_IAM_RPC(UserAccountServiceImpl, List, ListUserAccountsRequest, ListUserAccountsResponse, "UserAccountService.List",
           api_->ListUserAccounts)
DI_IAM_RPC(UserAccountServiceImpl, Create, CreateUserAccountRequest, UserAccount, "UserAccountService.Create",
           api_->CreateUserAccount)
DI_IAM_RPC(ApiKeyServiceImpl, Create, CreateApiKeyRequest, CreateApiKeyResponse, "ApiKeyService.Create",
           api_->CreateApiKey)
DI_IAM_RPC(ApiKeyServiceImpl, List, ListApiKeysRequest, ListApiKeysResponse, "ApiKeyService.List",
           api_->ListApiKeys)
DI_IAM_RPC(ApiKeyServiceImpl, Delete, DeleteApiKeyRequest, DeleteApiKeyResponse, "ApiKeyService.Delete",
           api_->DeleteApiKey)
DI_IAM_RPC(AccessBindingServiceImpl, ListAccessBindings, ListAccessBindingsRequest, ListAccessBindingsResponse,
           "AccessBindingService.ListAccessBindings", api_->ListAccessBindings)
DI_IAM_RPC(AccessBindingServiceImpl, SetAccessBindings, SetAccessBindingsRequest, Operation,
           "AccessBindingService.SetAccessBindings", api_->SetAccessBindings)
DI_IAM_RPC(AccessBindingServiceImpl, UpdateAccessBindings, UpdateAccessBindingsRequest, Operation,
           "AccessBindingService.UpdateAccessBindings", api_->UpdateAccessBindings)
DI_IAM_RPC(BillingServiceImpl, GetUsage, GetUsageRequest, GetUsageResponse, "BillingService.GetUsage", api_->GetUsage)
DI_IAM_RPC(BillingServiceImpl, ListUsageRecords, ListUsageRecordsRequest, ListUsageRecordsResponse,
           "BillingService.ListUsageRecords", api_->ListUsageRecords)

#undef DI_IAM_RPC
#undef DI_DISPATCH

grpc::ServerUnaryReactor* ModelServiceImpl::Get(grpc::CallbackServerContext* ctx, const v1::GetModelRequest* req,
                                                v1::Model* resp) {
  auto* reactor = ctx->DefaultReactor();
  CallRecord call = rpc_->Begin(ctx, "ModelService.Get");
  absl::Status status = rpc_->AuthorizeInline(ctx, call, *req).status();
  if (!status.ok()) {
  } else if (req->model_id().empty()) {
    status = absl::InvalidArgumentError("model_id: is required");
  } else if (const auto* m = catalog_->Find(req->model_id()); m == nullptr) {
    status = absl::NotFoundError(absl::StrCat("model ", req->model_id(), " not found"));
  } else {
    *resp = m->model();
  }
  rpc_->Finish(reactor, call, status);
  return reactor;
}

grpc::ServerUnaryReactor* ModelServiceImpl::List(grpc::CallbackServerContext* ctx, const v1::ListModelsRequest* req,
                                                 v1::ListModelsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  CallRecord call = rpc_->Begin(ctx, "ModelService.List");
  int64_t page_size = 0;
  absl::Status status = rpc_->AuthorizeInline(ctx, call, *req).status();
  if (status.ok()) status = ValidatePageSize("page_size", req->page_size(), &page_size);
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
  rpc_->Finish(reactor, call, status);
  return reactor;
}

grpc::ServerUnaryReactor* NodeServiceImpl::Register(grpc::CallbackServerContext* ctx,
                                                    const v1::RegisterNodeRequest* req,
                                                    v1::RegisterNodeResponse* resp) {
  return rpc_->Dispatch(ctx, "NodeService.Register", req, resp,
                        [this, req](DbSession& db, const RequestContext&) { return api_->Register(db, *req); });
}

grpc::ServerUnaryReactor* NodeServiceImpl::Heartbeat(grpc::CallbackServerContext* ctx,
                                                     const v1::HeartbeatRequest* req, v1::HeartbeatResponse* resp) {
  return rpc_->Dispatch(ctx, "NodeService.Heartbeat", req, resp,
                        [this, req](DbSession& db, const RequestContext&) { return api_->Heartbeat(db, *req); });
}

grpc::ServerUnaryReactor* NodeServiceImpl::ReportReplicaStatus(grpc::CallbackServerContext* ctx,
                                                               const v1::ReportReplicaStatusRequest* req,
                                                               v1::ReportReplicaStatusResponse* resp) {
  return rpc_->Dispatch(ctx, "NodeService.ReportReplicaStatus", req, resp,
                        [this, req](DbSession& db, const RequestContext&) { return api_->Report(db, *req); });
}

namespace {

// One agent's assignment stream.
class AssignmentStream final : public LatestValueWriter<v1::Assignments>, public AssignmentSink {
 public:
  AssignmentStream(AssignmentHub* hub, std::string node_id) : hub_(hub) { hub_->Subscribe(node_id, this); }
  void Push(const v1::Assignments& assignments) override { PushValue(assignments); }
  void Close() override { FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controlplane shutting down")); }
  void OnDone() override {
    hub_->Unsubscribe(this);
    delete this;
  }

 private:
  AssignmentHub* hub_;
};

// One gateway's IAM snapshot stream: the current snapshot at once, then every newer one.
class AccessSnapshotStream final : public LatestValueWriter<v1::AccessSnapshot> {
 public:
  explicit AccessSnapshotStream(IamCache* cache) : cache_(cache) {
    handle_ = cache_->Subscribe([this](std::shared_ptr<const iam::IamSnapshot> snapshot) {
      if (snapshot == nullptr) {
        FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controlplane shutting down"));
      } else {
        PushValue(snapshot->ToProto());
      }
    });
  }
  void OnDone() override {
    cache_->Unsubscribe(handle_);
    delete this;
  }

 private:
  IamCache* cache_;
  int handle_ = 0;
};

// One gateway's routing table stream: the current table at once, then every newer one.
class RouteStream final : public LatestValueWriter<v1::RouteTable> {
 public:
  explicit RouteStream(RouteCache* cache) : cache_(cache) {
    handle_ = cache_->Subscribe([this](std::shared_ptr<const v1::RouteTable> table) {
      if (table == nullptr) {
        FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controlplane shutting down"));
      } else {
        PushValue(*table);
      }
    });
  }
  void OnDone() override {
    cache_->Unsubscribe(handle_);
    delete this;
  }

 private:
  RouteCache* cache_;
  int handle_ = 0;
};

}  // namespace

grpc::ServerWriteReactor<v1::Assignments>* NodeServiceImpl::WatchAssignments(grpc::CallbackServerContext* ctx,
                                                                              const v1::WatchAssignmentsRequest* req) {
  absl::Status s = rpc_->OpenStream(ctx, "NodeService.WatchAssignments", *req);
  if (s.ok()) s = ValidateId("node_id", req->node_id());
  if (!s.ok()) return new FailedStream<v1::Assignments>(ToGrpcStatus(s));
  return new AssignmentStream(hub_, req->node_id());
}

grpc::ServerWriteReactor<v1::AccessSnapshot>* AccessSnapshotServiceImpl::Watch(
    grpc::CallbackServerContext* ctx, const v1::WatchAccessSnapshotRequest* req) {
  absl::Status s = rpc_->OpenStream(ctx, "AccessSnapshotService.Watch", *req);
  if (!s.ok()) return new FailedStream<v1::AccessSnapshot>(ToGrpcStatus(s));
  return new AccessSnapshotStream(cache_);
}

grpc::ServerWriteReactor<v1::RouteTable>* RouteServiceImpl::Watch(grpc::CallbackServerContext* ctx,
                                                                  const v1::WatchRoutesRequest* req) {
  absl::Status s = rpc_->OpenStream(ctx, "RouteService.Watch", *req);
  if (!s.ok()) return new FailedStream<v1::RouteTable>(ToGrpcStatus(s));
  return new RouteStream(cache_);
}

}  // namespace dedicated::controlplane
