#pragma once
// An in-process controlplane for dictl's tests: the three services dictl calls, on 127.0.0.1:<free
// port>, scripted by the test and recording every request with its idempotency key. Test-only.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/model_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"

namespace dedicated::dictl::testing {

template <typename Request>
struct Received {
  Request request;
  // "" when the call carried none.
  std::string idempotency_key;
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

  // --- Observations ---
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
  struct Running {
    v1::Operation operation;
    std::string instance_id;
    bool is_delete = false;
    // Advances on each poll; operations added with AddOperation stay as they are.
    bool scripted = false;
    int polls_left = 0;
    std::optional<grpc::Status> error;
  };

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

  std::unique_ptr<Instances> instance_service_;
  std::unique_ptr<Operations> operation_service_;
  std::unique_ptr<Models> model_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_;
};

}  // namespace dedicated::dictl::testing
