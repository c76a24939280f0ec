#pragma once
// gRPC callback-API adapters: one line per RPC, mapping it to the API logic through RpcDispatcher.

#include "dedicated/v1/access_binding_service.grpc.pb.h"
#include "dedicated/v1/access_snapshot_service.grpc.pb.h"
#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "dedicated/v1/billing_service.grpc.pb.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/node_admin_service.grpc.pb.h"
#include "dedicated/v1/resource_service.grpc.pb.h"
#include "dedicated/v1/route_service.grpc.pb.h"
#include "dedicated/v1/model_service.grpc.pb.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "services/catalog/catalog.h"
#include "services/controlplane/assignment_hub.h"
#include "services/controlplane/billing_api.h"
#include "services/controlplane/get_batcher.h"
#include "services/controlplane/iam_api.h"
#include "services/controlplane/iam_cache.h"
#include "services/controlplane/instance_api.h"
#include "services/controlplane/node_admin.h"
#include "services/controlplane/node_api.h"
#include "services/controlplane/quota.h"
#include "services/controlplane/route_cache.h"
#include "services/controlplane/rpc_dispatch.h"

namespace dedicated::controlplane {

class InstanceServiceImpl final : public v1::InstanceService::CallbackService {
 public:
  InstanceServiceImpl(InstanceApi* api, RpcDispatcher* rpc, GetBatcher* gets) : api_(api), rpc_(rpc), gets_(gets) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetInstanceRequest* req,
                                v1::Instance* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const v1::ListInstancesRequest* req,
                                 v1::ListInstancesResponse* resp) override;
  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* ctx, const v1::CreateInstanceRequest* req,
                                   v1::Operation* resp) override;
  grpc::ServerUnaryReactor* Update(grpc::CallbackServerContext* ctx, const v1::UpdateInstanceRequest* req,
                                   v1::Operation* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const v1::DeleteInstanceRequest* req,
                                   v1::Operation* resp) override;
  grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* ctx, const v1::StartInstanceRequest* req,
                                  v1::Operation* resp) override;
  grpc::ServerUnaryReactor* Stop(grpc::CallbackServerContext* ctx, const v1::StopInstanceRequest* req,
                                 v1::Operation* resp) override;
  grpc::ServerUnaryReactor* ListOperations(grpc::CallbackServerContext* ctx,
                                           const v1::ListInstanceOperationsRequest* req,
                                           v1::ListInstanceOperationsResponse* resp) override;

 private:
  InstanceApi* api_;
  RpcDispatcher* rpc_;
  GetBatcher* gets_;
};

class OperationServiceImpl final : public v1::OperationService::CallbackService {
 public:
  OperationServiceImpl(InstanceApi* api, RpcDispatcher* rpc) : api_(api), rpc_(rpc) {}
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetOperationRequest* req,
                                v1::Operation* resp) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx, const v1::CancelOperationRequest* req,
                                   v1::Operation* resp) override;

 private:
  InstanceApi* api_;
  RpcDispatcher* rpc_;
};

// The catalog is in memory: answered on the reactor thread, no database.
class ModelServiceImpl final : public v1::ModelService::CallbackService {
 public:
  ModelServiceImpl(std::shared_ptr<const catalog::Catalog> catalog, RpcDispatcher* rpc)
      : catalog_(std::move(catalog)), rpc_(rpc) {}
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetModelRequest* req,
                                v1::Model* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const v1::ListModelsRequest* req,
                                 v1::ListModelsResponse* resp) override;

 private:
  std::shared_ptr<const catalog::Catalog> catalog_;
  RpcDispatcher* rpc_;
};

class NodeServiceImpl final : public v1::NodeService::CallbackService {
 public:
  NodeServiceImpl(NodeApi* api, RpcDispatcher* rpc, AssignmentHub* hub) : api_(api), rpc_(rpc), hub_(hub) {}
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx, const v1::RegisterNodeRequest* req,
                                     v1::RegisterNodeResponse* resp) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* ctx, const v1::HeartbeatRequest* req,
                                      v1::HeartbeatResponse* resp) override;
  grpc::ServerWriteReactor<v1::Assignments>* WatchAssignments(grpc::CallbackServerContext* ctx,
                                                              const v1::WatchAssignmentsRequest* req) override;
  grpc::ServerUnaryReactor* ReportReplicaStatus(grpc::CallbackServerContext* ctx,
                                                const v1::ReportReplicaStatusRequest* req,
                                                v1::ReportReplicaStatusResponse* resp) override;

 private:
  NodeApi* api_;
  RpcDispatcher* rpc_;
  AssignmentHub* hub_;
};

#define DI_UNARY(NAME, REQ, RESP)                                                                   \
  grpc::ServerUnaryReactor* NAME(grpc::CallbackServerContext* ctx, const v1::REQ* req, v1::RESP* resp) \
      override

class ResourceServiceImpl final : public v1::ResourceService::CallbackService {
 public:
  ResourceServiceImpl(IamApi* api, QuotaApi* quotas, RpcDispatcher* rpc) : api_(api), quotas_(quotas), rpc_(rpc) {}
  DI_UNARY(GetCloud, GetCloudRequest, Cloud);
  DI_UNARY(ListClouds, ListCloudsRequest, ListCloudsResponse);
  DI_UNARY(CreateCloud, CreateCloudRequest, Operation);
  DI_UNARY(GetFolder, GetFolderRequest, Folder);
  DI_UNARY(ListFolders, ListFoldersRequest, ListFoldersResponse);
  DI_UNARY(CreateFolder, CreateFolderRequest, Operation);
  DI_UNARY(GetFolderQuota, GetFolderQuotaRequest, FolderQuota);
  DI_UNARY(SetFolderQuota, SetFolderQuotaRequest, Operation);

 private:
  IamApi* api_;
  QuotaApi* quotas_;
  RpcDispatcher* rpc_;
};

class ServiceAccountServiceImpl final : public v1::ServiceAccountService::CallbackService {
 public:
  ServiceAccountServiceImpl(IamApi* api, RpcDispatcher* rpc) : api_(api), rpc_(rpc) {}
  DI_UNARY(Get, GetServiceAccountRequest, ServiceAccount);
  DI_UNARY(List, ListServiceAccountsRequest, ListServiceAccountsResponse);
  DI_UNARY(Create, CreateServiceAccountRequest, ServiceAccount);

 private:
  IamApi* api_;
  RpcDispatcher* rpc_;
};

class NodeAdminServiceImpl final : public v1::NodeAdminService::CallbackService {
 public:
  NodeAdminServiceImpl(NodeAdminApi* api, RpcDispatcher* rpc) : api_(api), rpc_(rpc) {}
  DI_UNARY(Get, GetNodeRequest, Node);
  DI_UNARY(List, ListNodesRequest, ListNodesResponse);
  DI_UNARY(Drain, DrainNodeRequest, Operation);
  DI_UNARY(Undrain, UndrainNodeRequest, Operation);

 private:
  NodeAdminApi* api_;
  RpcDispatcher* rpc_;
};

class UserAccountServiceImpl final : public v1::UserAccountService::CallbackService {
 public:
  UserAccountServiceImpl(IamApi* api, RpcDispatcher* rpc) : api_(api), rpc_(rpc) {}
  DI_UNARY(Get, GetUserAccountRequest, UserAccount);
  DI_UNARY(List, ListUserAccountsRequest, ListUserAccountsResponse);
  DI_UNARY(Create, CreateUserAccountRequest, UserAccount);

 private:
  IamApi* api_;
  RpcDispatcher* rpc_;
};

class ApiKeyServiceImpl final : public v1::ApiKeyService::CallbackService {
 public:
  ApiKeyServiceImpl(IamApi* api, RpcDispatcher* rpc) : api_(api), rpc_(rpc) {}
  DI_UNARY(Create, CreateApiKeyRequest, CreateApiKeyResponse);
  DI_UNARY(List, ListApiKeysRequest, ListApiKeysResponse);
  DI_UNARY(Delete, DeleteApiKeyRequest, DeleteApiKeyResponse);

 private:
  IamApi* api_;
  RpcDispatcher* rpc_;
};

class AccessBindingServiceImpl final : public v1::AccessBindingService::CallbackService {
 public:
  AccessBindingServiceImpl(IamApi* api, RpcDispatcher* rpc) : api_(api), rpc_(rpc) {}
  DI_UNARY(ListAccessBindings, ListAccessBindingsRequest, ListAccessBindingsResponse);
  DI_UNARY(SetAccessBindings, SetAccessBindingsRequest, Operation);
  DI_UNARY(UpdateAccessBindings, UpdateAccessBindingsRequest, Operation);

 private:
  IamApi* api_;
  RpcDispatcher* rpc_;
};

class BillingServiceImpl final : public v1::BillingService::CallbackService {
 public:
  BillingServiceImpl(BillingApi* api, RpcDispatcher* rpc) : api_(api), rpc_(rpc) {}
  DI_UNARY(GetUsage, GetUsageRequest, GetUsageResponse);
  DI_UNARY(ListUsageRecords, ListUsageRecordsRequest, ListUsageRecordsResponse);

 private:
  BillingApi* api_;
  RpcDispatcher* rpc_;
};

#undef DI_UNARY

class AccessSnapshotServiceImpl final : public v1::AccessSnapshotService::CallbackService {
 public:
  AccessSnapshotServiceImpl(IamCache* cache, RpcDispatcher* rpc) : cache_(cache), rpc_(rpc) {}
  grpc::ServerWriteReactor<v1::AccessSnapshot>* Watch(grpc::CallbackServerContext* ctx,
                                                      const v1::WatchAccessSnapshotRequest* req) override;

 private:
  IamCache* cache_;
  RpcDispatcher* rpc_;
};

// Gateways' routing table (gateway credential only).
class RouteServiceImpl final : public v1::RouteService::CallbackService {
 public:
  RouteServiceImpl(RouteCache* cache, RpcDispatcher* rpc) : cache_(cache), rpc_(rpc) {}
  grpc::ServerWriteReactor<v1::RouteTable>* Watch(grpc::CallbackServerContext* ctx,
                                                  const v1::WatchRoutesRequest* req) override;

 private:
  RouteCache* cache_;
  RpcDispatcher* rpc_;
};

}  // namespace dedicated::controlplane
