#pragma once
// gRPC callback-API adapters: one line per RPC, mapping it to the API logic through RpcDispatcher.

#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/model_service.grpc.pb.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "services/catalog/catalog.h"
#include "services/controlplane/assignment_hub.h"
#include "services/controlplane/get_batcher.h"
#include "services/controlplane/instance_api.h"
#include "services/controlplane/node_api.h"
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

}  // namespace dedicated::controlplane
