#include "services/dictl/fake_controlplane.h"

#include <google/protobuf/empty.pb.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dedicated::dictl::testing {
namespace {

std::string Metadata(const grpc::ServerContext* context, const std::string& key) {
  auto it = context->client_metadata().find(key);
  if (it == context->client_metadata().end()) return "";
  return std::string(it->second.data(), it->second.size());
}

std::string IdempotencyKey(const grpc::ServerContext* context) { return Metadata(context, "idempotency-key"); }
std::string Authorization(const grpc::ServerContext* context) { return Metadata(context, "authorization"); }

}  // namespace

grpc::Status FakeControlplane::Admit(grpc::ServerContext* context, const std::string& method,
                                     const google::protobuf::Message& request) {
  std::shared_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  absl::MutexLock lock(&mu_);
  Call call{.method = method,
            .request = std::move(copy),
            .idempotency_key = IdempotencyKey(context),
            .authorization = Authorization(context),
            .request_id = Metadata(context, "x-request-id")};
  if (echo_request_ids_ && !call.request_id.empty()) context->AddTrailingMetadata("x-request-id", call.request_id);
  const bool refused = !required_api_key_.empty() && call.authorization != "Api-Key " + required_api_key_;
  calls_.push_back(std::move(call));
  if (refused) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or invalid API key");
  return grpc::Status::OK;
}

// Shared by the services: they run on gRPC threads, so all state is behind FakeControlplane::mu_.
class FakeControlplane::Instances final : public v1::InstanceService::Service {
 public:
  explicit Instances(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status Get(grpc::ServerContext* context, const v1::GetInstanceRequest* request,
                   v1::Instance* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.Get", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->instances_.find(request->instance_id());
    if (it == fake_->instances_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("instance ", request->instance_id(), " not found"));
    }
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* context, const v1::ListInstancesRequest* request,
                    v1::ListInstancesResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.List", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    fake_->list_requests_.push_back(*request);
    if (fake_->pages_.empty()) {
      for (const auto& [id, instance] : fake_->instances_) *response->add_instances() = instance;
      return grpc::Status::OK;
    }
    size_t page = 0;
    if (!request->page_token().empty()) {
      absl::string_view token = request->page_token();
      if (!absl::ConsumePrefix(&token, "page-") || !absl::SimpleAtoi(token, &page) ||
          page >= fake_->pages_.size()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: invalid");
      }
    }
    for (const v1::Instance& instance : fake_->pages_[page]) *response->add_instances() = instance;
    if (page + 1 < fake_->pages_.size()) response->set_next_page_token(absl::StrCat("page-", page + 1));
    return grpc::Status::OK;
  }

  grpc::Status Create(grpc::ServerContext* context, const v1::CreateInstanceRequest* request,
                      v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.Create", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    fake_->creates_.push_back({*request, IdempotencyKey(context), Authorization(context)});
    if (fake_->create_failures_left_ > 0) {
      --fake_->create_failures_left_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "database is unavailable");
    }
    v1::Instance instance;
    instance.set_id(absl::StrCat("inst-", fake_->next_id_++));
    instance.set_folder_id(request->folder_id());
    instance.set_name(request->name());
    instance.set_description(request->description());
    *instance.mutable_labels() = request->labels();
    instance.set_model_id(request->model_id());
    instance.set_configuration(request->configuration());
    instance.set_replica_count(request->replica_count());
    instance.set_status(v1::Instance::CREATING);
    instance.set_model_uri(absl::StrCat("dedicated://", request->folder_id(), "/", instance.id()));
    instance.mutable_created_at()->set_seconds(1762732800);  // 2025-11-10T00:00:00Z
    fake_->instances_[instance.id()] = instance;
    v1::CreateInstanceMetadata metadata;
    metadata.set_instance_id(instance.id());
    *response = fake_->StartOperation(instance.id(), metadata, "Create instance", false);
    return grpc::Status::OK;
  }

  grpc::Status Update(grpc::ServerContext* context, const v1::UpdateInstanceRequest* request,
                      v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.Update", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    fake_->updates_.push_back({*request, IdempotencyKey(context), Authorization(context)});
    if (!fake_->instances_.count(request->instance_id())) return NotFound(request->instance_id());
    v1::UpdateInstanceMetadata metadata;
    metadata.set_instance_id(request->instance_id());
    *response = fake_->StartOperation(request->instance_id(), metadata, "Update instance", false);
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteInstanceRequest* request,
                      v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.Delete", *request); !s.ok()) return s;
    v1::DeleteInstanceMetadata metadata;
    return Act(context, "delete", request->instance_id(), &metadata, response);
  }
  grpc::Status Start(grpc::ServerContext* context, const v1::StartInstanceRequest* request,
                     v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.Start", *request); !s.ok()) return s;
    v1::StartInstanceMetadata metadata;
    return Act(context, "start", request->instance_id(), &metadata, response);
  }
  grpc::Status Stop(grpc::ServerContext* context, const v1::StopInstanceRequest* request,
                    v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.Stop", *request); !s.ok()) return s;
    v1::StopInstanceMetadata metadata;
    return Act(context, "stop", request->instance_id(), &metadata, response);
  }

  grpc::Status ListOperations(grpc::ServerContext* context, const v1::ListInstanceOperationsRequest* request,
                              v1::ListInstanceOperationsResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "InstanceService.ListOperations", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    for (const auto& [id, running] : fake_->operations_) {
      if (running.instance_id == request->instance_id()) *response->add_operations() = running.operation;
    }
    return grpc::Status::OK;
  }

 private:
  static grpc::Status NotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("instance ", id, " not found"));
  }

  // The instance metadata types all have instance_id as field 1; set it through reflection.
  grpc::Status Act(grpc::ServerContext* context, const std::string& verb, const std::string& id,
                   google::protobuf::Message* metadata, v1::Operation* response) {
    absl::MutexLock lock(&fake_->mu_);
    fake_->actions_.push_back({absl::StrCat(verb, " ", id), IdempotencyKey(context), Authorization(context)});
    if (!fake_->instances_.count(id)) return NotFound(id);
    metadata->GetReflection()->SetString(metadata, metadata->GetDescriptor()->FindFieldByName("instance_id"),
                                         id);
    *response = fake_->StartOperation(id, *metadata, absl::StrCat(verb, " instance"), verb == "delete");
    return grpc::Status::OK;
  }

  FakeControlplane* fake_;
};

class FakeControlplane::Operations final : public v1::OperationService::Service {
 public:
  explicit Operations(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status Get(grpc::ServerContext* context, const v1::GetOperationRequest* request,
                   v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "OperationService.Get", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->operations_.find(request->operation_id());
    if (it == fake_->operations_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("operation ", request->operation_id(), " not found"));
    }
    ++fake_->operation_polls_;
    Running& running = it->second;
    if (!running.operation.done() && running.scripted) {
      auto instance = fake_->instances_.find(running.instance_id);
      if (instance != fake_->instances_.end() && instance->second.status() == v1::Instance::CREATING) {
        instance->second.set_status(v1::Instance::STARTING);
      }
      if (--running.polls_left <= 0) fake_->Finish(running);
    }
    *response = running.operation;
    return grpc::Status::OK;
  }

  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelOperationRequest* request,
                      v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "OperationService.Cancel", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    fake_->cancelled_.push_back(request->operation_id());
    auto it = fake_->operations_.find(request->operation_id());
    if (it == fake_->operations_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("operation ", request->operation_id(), " not found"));
    }
    // Like the real one: the cancellation lands on a later poll.
    it->second.error = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the user");
    it->second.scripted = true;
    if (it->second.polls_left <= 0) it->second.polls_left = 1;
    *response = it->second.operation;
    return grpc::Status::OK;
  }

 private:
  FakeControlplane* fake_;
};

class FakeControlplane::Models final : public v1::ModelService::Service {
 public:
  explicit Models(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status Get(grpc::ServerContext* context, const v1::GetModelRequest* request,
                   v1::Model* response) override {
    if (grpc::Status s = fake_->Admit(context, "ModelService.Get", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    for (const v1::Model& model : fake_->models_) {
      if (model.id() == request->model_id()) {
        *response = model;
        return grpc::Status::OK;
      }
    }
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("model ", request->model_id(), " not found"));
  }

  grpc::Status List(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                    v1::ListModelsResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "ModelService.List", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    for (const v1::Model& model : fake_->models_) *response->add_models() = model;
    return grpc::Status::OK;
  }

 private:
  FakeControlplane* fake_;
};

FakeControlplane::FakeControlplane()
    : instance_service_(std::make_unique<Instances>(this)),
      operation_service_(std::make_unique<Operations>(this)),
      model_service_(std::make_unique<Models>(this)) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(instance_service_.get());
  builder.RegisterService(operation_service_.get());
  builder.RegisterService(model_service_.get());
  AddResourceServices(builder);
  server_ = builder.BuildAndStart();
  endpoint_ = absl::StrCat("127.0.0.1:", port);
}

FakeControlplane::~FakeControlplane() { server_->Shutdown(); }

v1::Operation FakeControlplane::StartOperation(const std::string& instance_id,
                                               const google::protobuf::Message& metadata,
                                               const std::string& description, bool is_delete) {
  Running running;
  running.instance_id = instance_id;
  running.is_delete = is_delete;
  running.scripted = true;
  running.polls_left = outcome_polls_;
  running.error = outcome_error_;
  running.operation.set_id(absl::StrCat("op-", next_id_++));
  running.operation.set_description(description);
  running.operation.mutable_created_at()->set_seconds(1762732800);
  running.operation.mutable_metadata()->PackFrom(metadata);
  if (running.polls_left <= 0) Finish(running);
  v1::Operation operation = running.operation;
  operations_[operation.id()] = std::move(running);
  return operation;
}

void FakeControlplane::Finish(Running& running) {
  running.operation.set_done(true);
  if (running.error) {
    running.operation.mutable_error()->set_code(running.error->error_code());
    running.operation.mutable_error()->set_message(running.error->error_message());
    auto instance = instances_.find(running.instance_id);
    if (instance != instances_.end()) instance->second.set_status(v1::Instance::ERROR);
    return;
  }
  if (running.response) {
    *running.operation.mutable_response() = *running.response;
    return;
  }
  if (running.is_delete) {
    instances_.erase(running.instance_id);
    running.operation.mutable_response()->PackFrom(google::protobuf::Empty());
    return;
  }
  auto instance = instances_.find(running.instance_id);
  if (instance != instances_.end()) {
    instance->second.set_status(v1::Instance::ACTIVE);
    running.operation.mutable_response()->PackFrom(instance->second);
  }
}

void FakeControlplane::FailNextCreates(int n) {
  absl::MutexLock lock(&mu_);
  create_failures_left_ = n;
}

void FakeControlplane::SetOperationOutcome(int polls, std::optional<grpc::Status> error) {
  absl::MutexLock lock(&mu_);
  outcome_polls_ = polls;
  outcome_error_ = std::move(error);
}

void FakeControlplane::AddInstance(const v1::Instance& instance) {
  absl::MutexLock lock(&mu_);
  instances_[instance.id()] = instance;
}

void FakeControlplane::SetInstancePages(std::vector<std::vector<v1::Instance>> pages) {
  absl::MutexLock lock(&mu_);
  pages_ = std::move(pages);
}

void FakeControlplane::AddModel(const v1::Model& model) {
  absl::MutexLock lock(&mu_);
  models_.push_back(model);
}

void FakeControlplane::AddOperation(const v1::Operation& operation, const std::string& instance_id) {
  absl::MutexLock lock(&mu_);
  Running running;
  running.operation = operation;
  running.instance_id = instance_id;
  operations_[operation.id()] = std::move(running);
}

std::vector<Received<v1::CreateInstanceRequest>> FakeControlplane::creates() const {
  absl::MutexLock lock(&mu_);
  return creates_;
}

std::vector<Received<v1::UpdateInstanceRequest>> FakeControlplane::updates() const {
  absl::MutexLock lock(&mu_);
  return updates_;
}

std::vector<Received<std::string>> FakeControlplane::actions() const {
  absl::MutexLock lock(&mu_);
  return actions_;
}

std::vector<v1::ListInstancesRequest> FakeControlplane::list_requests() const {
  absl::MutexLock lock(&mu_);
  return list_requests_;
}

int FakeControlplane::operation_polls() const {
  absl::MutexLock lock(&mu_);
  return operation_polls_;
}

std::vector<std::string> FakeControlplane::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace dedicated::dictl::testing
