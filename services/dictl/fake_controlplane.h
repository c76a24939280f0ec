#pragma once
// An in-process controlplane for dictl's tests: the services dictl calls, on 127.0.0.1:<free port>,
// scripted by the test and recording every request with its idempotency key and authorization header.
// Test-only. Instances, operations and models are in fake_controlplane.cc; clouds, folders, service and
// user accounts, API keys, access bindings and nodes (NodeAdminService) in fake_resources.cc.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "dedicated/v1/access_binding_service.grpc.pb.h"
#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/model_service.grpc.pb.h"
#include "dedicated/v1/node_admin_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "dedicated/v1/resource_service.grpc.pb.h"

namespace dedicated::dictl::testing {

template <typename Request>
struct Received {
  Request request;
  // "" when the call carried none.
  std::string idempotency_key;
  // The `authorization` metadata; "" when the call carried none.
  std::string authorization;
  // The `x-request-id` metadata; "" when the call carried none.
  std::string request_id;
};

class FakeControlplane {
 public:
  // Instance ids are "inst-1", "inst-2", ...; operation ids "op-1", "op-2", ...
  FakeControlplane();
  ~FakeControlplane();
  FakeControlplane(const FakeControlplane&) = delete;
  FakeControlplane& operator=(const FakeControlplane&) = delete;

  const std::string& endpoint() const { return endpoint_; }

  // --- Script ---
  // The next `n` Create calls fail with UNAVAILABLE "database is unavailable".
  void FailNextCreates(int n);
  // Operations started from now on report done after `polls` OperationService.Get calls (default 1;
  // 0 means done at once), ending with
  // `error` if set, otherwise with the instance (or Empty for Delete) as response. While running, the
  // instance is CREATING before the first poll and STARTING after it.
  void SetOperationOutcome(int polls, std::optional<grpc::Status> error = std::nullopt);
  void AddInstance(const v1::Instance& instance);
  // List answers with these pages: page i has next_page_token "page-<i+1>", the last one "".
  void SetInstancePages(std::vector<std::vector<v1::Instance>> pages);
  void AddModel(const v1::Model& model);
  // Adds an operation of `instance_id` that Get and ListOperations return as is (it never advances
  // unless cancelled).
  void AddOperation(const v1::Operation& operation, const std::string& instance_id);

  // Every call without `authorization: Api-Key <secret>` fails with UNAUTHENTICATED "missing or invalid
  // API key" (and is still recorded).
  void RequireApiKey(std::string secret);
  // Answers every call with the request's x-request-id in the trailing metadata, as the controlplane does.
  void EchoRequestIds();

  // Clouds "cloud-<n>", folders "folder-<n>", service accounts "sa-<n>", user accounts "ua-<n>" (names
  // unique: a second Create of a name is ALREADY_EXISTS), API keys "key-<n>" with secret
  // "dik_fake-secret-<n>" for a service or user account. Create of a cloud or folder and changes of access bindings return an
  // Operation that is already done, like the real server; with `pending` set they finish on the first
  // OperationService.Get instead.
  void SetResourceOperationsPending(bool pending);
  // Lists of clouds, folders, service and user accounts, API keys and access bindings answer a request without
  // page_size with pages of at most `n` items (0: all at once). Page tokens are "offset-<n>".
  void SetDefaultPageSize(int n);
  void AddCloud(const v1::Cloud& cloud);
  void AddFolder(const v1::Folder& folder);
  // Quota of an added folder (limits and usage) that GetFolderQuota returns; folders without one have no
  // limits and use nothing. SetFolderQuota replaces both limits and keeps the usage; done at once unless
  // SetResourceOperationsPending, its response is the quota.
  void AddFolderQuota(const v1::FolderQuota& quota);
  std::optional<v1::FolderQuota> folder_quota(const std::string& folder_id) const;
  void AddServiceAccount(const v1::ServiceAccount& account);
  void AddUserAccount(const v1::UserAccount& account);
  void AddApiKey(const v1::ApiKey& key);
  void AddAccessBinding(const std::string& resource_id, const v1::AccessBinding& binding);
  std::vector<v1::AccessBinding> access_bindings(const std::string& resource_id) const;
  // Nodes for NodeAdminService: List pages them by name (SetDefaultPageSize applies, tokens
  // "offset-<n>"); Drain turns a READY node DRAINING and Undrain a DRAINING one READY (a DOWN node stays
  // DOWN), each answering with an operation whose metadata is DrainNodeMetadata and whose response is the
  // node, done at once unless SetResourceOperationsPending. Unknown ids are NOT_FOUND "node <id> not found".
  void AddNode(const v1::Node& node);
  std::optional<v1::Node> node(const std::string& id) const;

  // --- Observations ---
  // Every call of every service, in order, with its request.
  struct Call {
    // "<Service>.<Method>", e.g. "ResourceService.CreateCloud".
    std::string method;
    std::shared_ptr<const google::protobuf::Message> request;
    std::string idempotency_key;
    std::string authorization;
    std::string request_id;
  };
  std::vector<Call> calls() const;
  // The calls of one method with their requests as `Request`.
  template <typename Request>
  std::vector<Received<Request>> Requests(const std::string& method) const {
    std::vector<Received<Request>> received;
    for (const Call& call : calls()) {
      if (call.method != method) continue;
      Received<Request>& r = received.emplace_back();
      r.request.CopyFrom(*call.request);
      r.idempotency_key = call.idempotency_key;
      r.authorization = call.authorization;
      r.request_id = call.request_id;
    }
    return received;
  }

  std::vector<Received<v1::CreateInstanceRequest>> creates() const;
  std::vector<Received<v1::UpdateInstanceRequest>> updates() const;
  // Start, Stop and Delete, as "<verb> <instance_id>" with their keys.
  std::vector<Received<std::string>> actions() const;
  std::vector<v1::ListInstancesRequest> list_requests() const;
  int operation_polls() const;
  std::vector<std::string> cancelled() const;

 private:
  class Instances;
  class Operations;
  class Models;
  class Resources;
  class ServiceAccounts;
  class UserAccounts;
  class ApiKeys;
  class AccessBindings;
  class Nodes;
  struct Running {
    v1::Operation operation;
    std::string instance_id;
    bool is_delete = false;
    // Advances on each poll; operations added with AddOperation stay as they are.
    bool scripted = false;
    int polls_left = 0;
    std::optional<grpc::Status> error;
    // The response once done, for operations that are not about an instance.
    std::optional<google::protobuf::Any> response;
  };

  // Records the call and applies RequireApiKey. Every handler calls it first, without holding mu_.
  grpc::Status Admit(grpc::ServerContext* context, const std::string& method,
                     const google::protobuf::Message& request) ABSL_LOCKS_EXCLUDED(mu_);
  // An operation of ResourceService or AccessBindingService that ends with `response`; done at once
  // unless SetResourceOperationsPending.
  v1::Operation StartResourceOperation(const google::protobuf::Message& metadata, const std::string& description,
                                       const google::protobuf::Message& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsResource(const std::string& id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Creates the services of fake_resources.cc and registers them with `builder`.
  void AddResourceServices(grpc::ServerBuilder& builder);

  // Starts a scripted operation about `instance_id`; `metadata` is its *InstanceMetadata.
  v1::Operation StartOperation(const std::string& instance_id, const google::protobuf::Message& metadata,
                               const std::string& description, bool is_delete)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the operation done with its scripted outcome and updates the instance to match.
  void Finish(Running& running) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  int create_failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  int outcome_polls_ ABSL_GUARDED_BY(mu_) = 1;
  std::optional<grpc::Status> outcome_error_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, v1::Instance> instances_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<v1::Instance>> pages_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Model> models_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Running> operations_ ABSL_GUARDED_BY(mu_);
  std::vector<Received<v1::CreateInstanceRequest>> creates_ ABSL_GUARDED_BY(mu_);
  std::vector<Received<v1::UpdateInstanceRequest>> updates_ ABSL_GUARDED_BY(mu_);
  std::vector<Received<std::string>> actions_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListInstancesRequest> list_requests_ ABSL_GUARDED_BY(mu_);
  int operation_polls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> cancelled_ ABSL_GUARDED_BY(mu_);
  std::string required_api_key_ ABSL_GUARDED_BY(mu_);
  bool echo_request_ids_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  bool resource_operations_pending_ ABSL_GUARDED_BY(mu_) = false;
  int default_page_size_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, v1::Cloud> clouds_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::Folder> folders_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::FolderQuota> folder_quotas_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::ServiceAccount> service_accounts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::UserAccount> user_accounts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::ApiKey> api_keys_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<v1::AccessBinding>> bindings_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::Node> nodes_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<Instances> instance_service_;
  std::unique_ptr<Operations> operation_service_;
  std::unique_ptr<Models> model_service_;
  // Resources, ServiceAccounts, UserAccounts, ApiKeys, AccessBindings, Nodes: made by AddResourceServices.
  std::vector<std::unique_ptr<grpc::Service>> resource_services_;
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_;
};

}  // namespace dedicated::dictl::testing
