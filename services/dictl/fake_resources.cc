// The identity and resource half of FakeControlplane: ResourceService, ServiceAccountService,
// UserAccountService, ApiKeyService, AccessBindingService and NodeAdminService, with just enough behaviour
// for dictl's tests (parents must exist, lists page, operations are done at once unless scripted otherwise).

#include <google/protobuf/empty.pb.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/dictl/fake_controlplane.h"

namespace dedicated::dictl::testing {
namespace {

constexpr int64_t kCreatedAt = 1762732800;  // 2025-11-10T00:00:00Z

grpc::Status NotFound(const std::string& what, const std::string& id) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat(what, " ", id, " not found"));
}

// One page of `items`: the request's page_size, else the scripted default, else everything.
template <typename Item>
grpc::Status ServePage(const std::vector<Item>& items, int64_t page_size, int default_page_size,
                       const std::string& token, google::protobuf::RepeatedPtrField<Item>* page,
                       std::string* next_token) {
  size_t offset = 0;
  if (!token.empty()) {
    absl::string_view rest = token;
    if (!absl::ConsumePrefix(&rest, "offset-") || !absl::SimpleAtoi(rest, &offset) || offset > items.size()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: invalid");
    }
  }
  size_t size = items.size();
  if (page_size > 0) {
    size = static_cast<size_t>(page_size);
  } else if (default_page_size > 0) {
    size = static_cast<size_t>(default_page_size);
  }
  const size_t end = std::min(items.size(), offset + size);
  for (size_t i = offset; i < end; ++i) *page->Add() = items[i];
  if (end < items.size()) *next_token = absl::StrCat("offset-", end);
  return grpc::Status::OK;
}

// The values of `map` that `keep` accepts, in key order.
template <typename Item, typename Keep>
std::vector<Item> Select(const std::map<std::string, Item>& map, Keep keep) {
  std::vector<Item> items;
  for (const auto& [id, item] : map) {
    if (keep(item)) items.push_back(item);
  }
  return items;
}

}  // namespace

class FakeControlplane::Resources final : public v1::ResourceService::Service {
 public:
  explicit Resources(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status GetCloud(grpc::ServerContext* context, const v1::GetCloudRequest* request,
                        v1::Cloud* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.GetCloud", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->clouds_.find(request->cloud_id());
    if (it == fake_->clouds_.end()) return NotFound("cloud", request->cloud_id());
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListClouds(grpc::ServerContext* context, const v1::ListCloudsRequest* request,
                          v1::ListCloudsResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.ListClouds", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    return ServePage(Select(fake_->clouds_, [](const v1::Cloud&) { return true; }), request->page_size(),
                     fake_->default_page_size_, request->page_token(), response->mutable_clouds(),
                     response->mutable_next_page_token());
  }

  grpc::Status CreateCloud(grpc::ServerContext* context, const v1::CreateCloudRequest* request,
                           v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.CreateCloud", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    v1::Cloud cloud;
    cloud.set_id(absl::StrCat("cloud-", fake_->next_id_++));
    cloud.set_name(request->name());
    cloud.set_description(request->description());
    cloud.mutable_created_at()->set_seconds(kCreatedAt);
    fake_->clouds_[cloud.id()] = cloud;
    v1::CreateCloudMetadata metadata;
    metadata.set_cloud_id(cloud.id());
    *response = fake_->StartResourceOperation(metadata, "Create cloud", cloud);
    return grpc::Status::OK;
  }

  grpc::Status GetFolder(grpc::ServerContext* context, const v1::GetFolderRequest* request,
                         v1::Folder* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.GetFolder", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->folders_.find(request->folder_id());
    if (it == fake_->folders_.end()) return NotFound("folder", request->folder_id());
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListFolders(grpc::ServerContext* context, const v1::ListFoldersRequest* request,
                           v1::ListFoldersResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.ListFolders", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->clouds_.count(request->cloud_id())) return NotFound("cloud", request->cloud_id());
    return ServePage(Select(fake_->folders_, [&](const v1::Folder& f) { return f.cloud_id() == request->cloud_id(); }),
                     request->page_size(), fake_->default_page_size_, request->page_token(),
                     response->mutable_folders(), response->mutable_next_page_token());
  }

  grpc::Status CreateFolder(grpc::ServerContext* context, const v1::CreateFolderRequest* request,
                            v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.CreateFolder", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->clouds_.count(request->cloud_id())) return NotFound("cloud", request->cloud_id());
    v1::Folder folder;
    folder.set_id(absl::StrCat("folder-", fake_->next_id_++));
    folder.set_cloud_id(request->cloud_id());
    folder.set_name(request->name());
    folder.set_description(request->description());
    folder.mutable_created_at()->set_seconds(kCreatedAt);
    fake_->folders_[folder.id()] = folder;
    v1::CreateFolderMetadata metadata;
    metadata.set_folder_id(folder.id());
    *response = fake_->StartResourceOperation(metadata, "Create folder", folder);
    return grpc::Status::OK;
  }

  grpc::Status GetFolderQuota(grpc::ServerContext* context, const v1::GetFolderQuotaRequest* request,
                              v1::FolderQuota* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.GetFolderQuota", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->folders_.count(request->folder_id())) return NotFound("folder", request->folder_id());
    *response = QuotaOf(request->folder_id());
    return grpc::Status::OK;
  }

  grpc::Status SetFolderQuota(grpc::ServerContext* context, const v1::SetFolderQuotaRequest* request,
                              v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "ResourceService.SetFolderQuota", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->folders_.count(request->folder_id())) return NotFound("folder", request->folder_id());
    // Both limits are replaced; what the folder uses stays.
    v1::FolderQuota quota = QuotaOf(request->folder_id());
    quota.clear_max_instances();
    quota.clear_max_gpus();
    if (request->has_max_instances()) quota.set_max_instances(request->max_instances());
    if (request->has_max_gpus()) quota.set_max_gpus(request->max_gpus());
    fake_->folder_quotas_[quota.folder_id()] = quota;
    v1::SetFolderQuotaMetadata metadata;
    metadata.set_folder_id(quota.folder_id());
    *response = fake_->StartResourceOperation(metadata, "Set folder quota", quota);
    return grpc::Status::OK;
  }

 private:
  // The stored quota of the folder, else no limits and nothing used.
  v1::FolderQuota QuotaOf(const std::string& folder_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(fake_->mu_) {
    auto it = fake_->folder_quotas_.find(folder_id);
    if (it != fake_->folder_quotas_.end()) return it->second;
    v1::FolderQuota quota;
    quota.set_folder_id(folder_id);
    return quota;
  }

  FakeControlplane* fake_;
};

class FakeControlplane::ServiceAccounts final : public v1::ServiceAccountService::Service {
 public:
  explicit ServiceAccounts(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status Get(grpc::ServerContext* context, const v1::GetServiceAccountRequest* request,
                   v1::ServiceAccount* response) override {
    if (grpc::Status s = fake_->Admit(context, "ServiceAccountService.Get", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->service_accounts_.find(request->service_account_id());
    if (it == fake_->service_accounts_.end()) return NotFound("service account", request->service_account_id());
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* context, const v1::ListServiceAccountsRequest* request,
                    v1::ListServiceAccountsResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "ServiceAccountService.List", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->folders_.count(request->folder_id())) return NotFound("folder", request->folder_id());
    return ServePage(Select(fake_->service_accounts_,
                            [&](const v1::ServiceAccount& a) { return a.folder_id() == request->folder_id(); }),
                     request->page_size(), fake_->default_page_size_, request->page_token(),
                     response->mutable_service_accounts(), response->mutable_next_page_token());
  }

  grpc::Status Create(grpc::ServerContext* context, const v1::CreateServiceAccountRequest* request,
                      v1::ServiceAccount* response) override {
    if (grpc::Status s = fake_->Admit(context, "ServiceAccountService.Create", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->folders_.count(request->folder_id())) return NotFound("folder", request->folder_id());
    response->set_id(absl::StrCat("sa-", fake_->next_id_++));
    response->set_folder_id(request->folder_id());
    response->set_name(request->name());
    response->set_description(request->description());
    response->mutable_created_at()->set_seconds(kCreatedAt);
    fake_->service_accounts_[response->id()] = *response;
    return grpc::Status::OK;
  }

 private:
  FakeControlplane* fake_;
};

class FakeControlplane::UserAccounts final : public v1::UserAccountService::Service {
 public:
  explicit UserAccounts(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status Get(grpc::ServerContext* context, const v1::GetUserAccountRequest* request,
                   v1::UserAccount* response) override {
    if (grpc::Status s = fake_->Admit(context, "UserAccountService.Get", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->user_accounts_.find(request->user_account_id());
    if (it == fake_->user_accounts_.end()) return NotFound("user account", request->user_account_id());
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* context, const v1::ListUserAccountsRequest* request,
                    v1::ListUserAccountsResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "UserAccountService.List", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    return ServePage(Select(fake_->user_accounts_, [](const v1::UserAccount&) { return true; }), request->page_size(),
                     fake_->default_page_size_, request->page_token(), response->mutable_user_accounts(),
                     response->mutable_next_page_token());
  }

  grpc::Status Create(grpc::ServerContext* context, const v1::CreateUserAccountRequest* request,
                      v1::UserAccount* response) override {
    if (grpc::Status s = fake_->Admit(context, "UserAccountService.Create", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    for (const auto& [id, account] : fake_->user_accounts_) {
      if (account.name() == request->name()) {
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                            absl::StrCat("user account ", request->name(), " already exists"));
      }
    }
    response->set_id(absl::StrCat("ua-", fake_->next_id_++));
    response->set_name(request->name());
    response->set_description(request->description());
    response->mutable_created_at()->set_seconds(kCreatedAt);
    fake_->user_accounts_[response->id()] = *response;
    return grpc::Status::OK;
  }

 private:
  FakeControlplane* fake_;
};

class FakeControlplane::ApiKeys final : public v1::ApiKeyService::Service {
 public:
  explicit ApiKeys(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status Create(grpc::ServerContext* context, const v1::CreateApiKeyRequest* request,
                      v1::CreateApiKeyResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "ApiKeyService.Create", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->service_accounts_.count(request->subject_id()) && !fake_->user_accounts_.count(request->subject_id())) {
      return NotFound("subject", request->subject_id());
    }
    const int n = fake_->next_id_++;
    v1::ApiKey* key = response->mutable_api_key();
    key->set_id(absl::StrCat("key-", n));
    key->set_subject_id(request->subject_id());
    key->set_description(request->description());
    key->mutable_created_at()->set_seconds(kCreatedAt);
    if (request->has_expires_at()) *key->mutable_expires_at() = request->expires_at();
    response->set_secret(absl::StrCat("dik_fake-secret-", n));
    fake_->api_keys_[key->id()] = *key;
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* context, const v1::ListApiKeysRequest* request,
                    v1::ListApiKeysResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "ApiKeyService.List", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    return ServePage(
        Select(fake_->api_keys_, [&](const v1::ApiKey& k) { return k.subject_id() == request->subject_id(); }),
        request->page_size(), fake_->default_page_size_, request->page_token(), response->mutable_api_keys(),
        response->mutable_next_page_token());
  }

  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteApiKeyRequest* request,
                      v1::DeleteApiKeyResponse*) override {
    if (grpc::Status s = fake_->Admit(context, "ApiKeyService.Delete", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    if (fake_->api_keys_.erase(request->api_key_id()) == 0) return NotFound("API key", request->api_key_id());
    return grpc::Status::OK;
  }

 private:
  FakeControlplane* fake_;
};

class FakeControlplane::AccessBindings final : public v1::AccessBindingService::Service {
 public:
  explicit AccessBindings(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status ListAccessBindings(grpc::ServerContext* context, const v1::ListAccessBindingsRequest* request,
                                  v1::ListAccessBindingsResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "AccessBindingService.ListAccessBindings", *request); !s.ok()) {
      return s;
    }
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->IsResource(request->resource_id())) return NotFound("resource", request->resource_id());
    return ServePage(fake_->bindings_[request->resource_id()], request->page_size(), fake_->default_page_size_,
                     request->page_token(), response->mutable_access_bindings(), response->mutable_next_page_token());
  }

  grpc::Status SetAccessBindings(grpc::ServerContext* context, const v1::SetAccessBindingsRequest* request,
                                 v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "AccessBindingService.SetAccessBindings", *request); !s.ok()) {
      return s;
    }
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->IsResource(request->resource_id())) return NotFound("resource", request->resource_id());
    fake_->bindings_[request->resource_id()].assign(request->access_bindings().begin(),
                                                    request->access_bindings().end());
    v1::SetAccessBindingsMetadata metadata;
    metadata.set_resource_id(request->resource_id());
    *response = fake_->StartResourceOperation(metadata, "Set access bindings", google::protobuf::Empty());
    return grpc::Status::OK;
  }

  grpc::Status UpdateAccessBindings(grpc::ServerContext* context, const v1::UpdateAccessBindingsRequest* request,
                                    v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "AccessBindingService.UpdateAccessBindings", *request); !s.ok()) {
      return s;
    }
    absl::MutexLock lock(&fake_->mu_);
    if (!fake_->IsResource(request->resource_id())) return NotFound("resource", request->resource_id());
    std::vector<v1::AccessBinding>& bindings = fake_->bindings_[request->resource_id()];
    for (const v1::AccessBindingDelta& delta : request->access_binding_deltas()) {
      auto same = [&](const v1::AccessBinding& b) {
        return b.SerializeAsString() == delta.access_binding().SerializeAsString();
      };
      auto it = std::find_if(bindings.begin(), bindings.end(), same);
      if (delta.action() == v1::ADD && it == bindings.end()) bindings.push_back(delta.access_binding());
      if (delta.action() == v1::REMOVE && it != bindings.end()) bindings.erase(it);
    }
    v1::UpdateAccessBindingsMetadata metadata;
    metadata.set_resource_id(request->resource_id());
    *response = fake_->StartResourceOperation(metadata, "Update access bindings", google::protobuf::Empty());
    return grpc::Status::OK;
  }

 private:
  FakeControlplane* fake_;
};

class FakeControlplane::Nodes final : public v1::NodeAdminService::Service {
 public:
  explicit Nodes(FakeControlplane* fake) : fake_(fake) {}

  grpc::Status Get(grpc::ServerContext* context, const v1::GetNodeRequest* request, v1::Node* response) override {
    if (grpc::Status s = fake_->Admit(context, "NodeAdminService.Get", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->nodes_.find(request->node_id());
    if (it == fake_->nodes_.end()) return NotFound("node", request->node_id());
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* context, const v1::ListNodesRequest* request,
                    v1::ListNodesResponse* response) override {
    if (grpc::Status s = fake_->Admit(context, "NodeAdminService.List", *request); !s.ok()) return s;
    absl::MutexLock lock(&fake_->mu_);
    // By name, like the real server.
    std::vector<v1::Node> nodes = Select(fake_->nodes_, [](const v1::Node&) { return true; });
    std::stable_sort(nodes.begin(), nodes.end(),
                     [](const v1::Node& a, const v1::Node& b) { return a.name() < b.name(); });
    return ServePage(nodes, request->page_size(), fake_->default_page_size_, request->page_token(),
                     response->mutable_nodes(), response->mutable_next_page_token());
  }

  grpc::Status Drain(grpc::ServerContext* context, const v1::DrainNodeRequest* request,
                     v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "NodeAdminService.Drain", *request); !s.ok()) return s;
    return SetDrained(request->node_id(), true, response);
  }

  grpc::Status Undrain(grpc::ServerContext* context, const v1::UndrainNodeRequest* request,
                       v1::Operation* response) override {
    if (grpc::Status s = fake_->Admit(context, "NodeAdminService.Undrain", *request); !s.ok()) return s;
    return SetDrained(request->node_id(), false, response);
  }

 private:
  grpc::Status SetDrained(const std::string& id, bool drained, v1::Operation* response) {
    absl::MutexLock lock(&fake_->mu_);
    auto it = fake_->nodes_.find(id);
    if (it == fake_->nodes_.end()) return NotFound("node", id);
    v1::Node& node = it->second;
    if (drained && node.state() == v1::Node::READY) node.set_state(v1::Node::DRAINING);
    if (!drained && node.state() == v1::Node::DRAINING) node.set_state(v1::Node::READY);
    v1::DrainNodeMetadata metadata;
    metadata.set_node_id(id);
    *response = fake_->StartResourceOperation(metadata,
                                              absl::StrCat(drained ? "Drain" : "Undrain", " node ", node.name()), node);
    return grpc::Status::OK;
  }

  FakeControlplane* fake_;
};

void FakeControlplane::AddResourceServices(grpc::ServerBuilder& builder) {
  resource_services_.push_back(std::make_unique<Resources>(this));
  resource_services_.push_back(std::make_unique<ServiceAccounts>(this));
  resource_services_.push_back(std::make_unique<UserAccounts>(this));
  resource_services_.push_back(std::make_unique<ApiKeys>(this));
  resource_services_.push_back(std::make_unique<AccessBindings>(this));
  resource_services_.push_back(std::make_unique<Nodes>(this));
  for (const auto& service : resource_services_) builder.RegisterService(service.get());
}

v1::Operation FakeControlplane::StartResourceOperation(const google::protobuf::Message& metadata,
                                                       const std::string& description,
                                                       const google::protobuf::Message& response) {
  Running running;
  running.scripted = true;
  running.polls_left = resource_operations_pending_ ? 1 : 0;
  running.response.emplace().PackFrom(response);
  running.operation.set_id(absl::StrCat("op-", next_id_++));
  running.operation.set_description(description);
  running.operation.mutable_created_at()->set_seconds(kCreatedAt);
  running.operation.mutable_metadata()->PackFrom(metadata);
  if (running.polls_left <= 0) Finish(running);
  v1::Operation operation = running.operation;
  operations_[operation.id()] = std::move(running);
  return operation;
}

bool FakeControlplane::IsResource(const std::string& id) const {
  return clouds_.count(id) > 0 || folders_.count(id) > 0;
}

void FakeControlplane::RequireApiKey(std::string secret) {
  absl::MutexLock lock(&mu_);
  required_api_key_ = std::move(secret);
}

void FakeControlplane::EchoRequestIds() {
  absl::MutexLock lock(&mu_);
  echo_request_ids_ = true;
}

void FakeControlplane::SetResourceOperationsPending(bool pending) {
  absl::MutexLock lock(&mu_);
  resource_operations_pending_ = pending;
}

void FakeControlplane::SetDefaultPageSize(int n) {
  absl::MutexLock lock(&mu_);
  default_page_size_ = n;
}

void FakeControlplane::AddCloud(const v1::Cloud& cloud) {
  absl::MutexLock lock(&mu_);
  clouds_[cloud.id()] = cloud;
}

void FakeControlplane::AddFolder(const v1::Folder& folder) {
  absl::MutexLock lock(&mu_);
  folders_[folder.id()] = folder;
}

void FakeControlplane::AddFolderQuota(const v1::FolderQuota& quota) {
  absl::MutexLock lock(&mu_);
  folder_quotas_[quota.folder_id()] = quota;
}

std::optional<v1::FolderQuota> FakeControlplane::folder_quota(const std::string& folder_id) const {
  absl::MutexLock lock(&mu_);
  auto it = folder_quotas_.find(folder_id);
  if (it == folder_quotas_.end()) return std::nullopt;
  return it->second;
}

void FakeControlplane::AddServiceAccount(const v1::ServiceAccount& account) {
  absl::MutexLock lock(&mu_);
  service_accounts_[account.id()] = account;
}

void FakeControlplane::AddUserAccount(const v1::UserAccount& account) {
  absl::MutexLock lock(&mu_);
  user_accounts_[account.id()] = account;
}

void FakeControlplane::AddApiKey(const v1::ApiKey& key) {
  absl::MutexLock lock(&mu_);
  api_keys_[key.id()] = key;
}

void FakeControlplane::AddAccessBinding(const std::string& resource_id, const v1::AccessBinding& binding) {
  absl::MutexLock lock(&mu_);
  bindings_[resource_id].push_back(binding);
}

std::vector<v1::AccessBinding> FakeControlplane::access_bindings(const std::string& resource_id) const {
  absl::MutexLock lock(&mu_);
  auto it = bindings_.find(resource_id);
  return it == bindings_.end() ? std::vector<v1::AccessBinding>{} : it->second;
}

void FakeControlplane::AddNode(const v1::Node& node) {
  absl::MutexLock lock(&mu_);
  nodes_[node.id()] = node;
}

std::optional<v1::Node> FakeControlplane::node(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

std::vector<FakeControlplane::Call> FakeControlplane::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

}  // namespace dedicated::dictl::testing
