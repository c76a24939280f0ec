// Identity and access against the running controlplane (in-process, real PostgreSQL, real gRPC): the
// permission matrix of every RPC, revocation, no existence leaks, secrets, bad input, bootstrap, and the
// gateways' snapshot stream.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dedicated/v1/access_binding_service.grpc.pb.h"
#include "dedicated/v1/access_snapshot_service.grpc.pb.h"
#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "dedicated/v1/resource_service.grpc.pb.h"
#include "dedicated/v1/route_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "services/catalog/catalog.h"
#include "services/common/ids.h"
#include "services/controlplane/authz_table.h"
#include "services/controlplane/bootstrap.h"
#include "services/controlplane/controlplane.h"
#include "services/iam/roles.h"
#include "services/storage/testing/test_database.h"

namespace dedicated {
namespace {

using ::testing::HasSubstr;
using controlplane::AuthzTarget;

std::string RandomName(const std::string& prefix) {
  std::string id = NewId("");
  for (char& c : id) {
    if (c >= '0' && c <= '9') c = 'x';
  }
  return prefix + "-" + id.substr(0, 10);
}

class IamTest : public ::testing::Test {
 public:
  void SetUp() override {
    controlplane::ControlplaneConfig config;
    config.database_url = db_.dsn();
    config.listen_address = "127.0.0.1:0";
    config.metrics_address = "";
    config.db_threads = 4;
    config.iam_poll = absl::Milliseconds(100);
    auto catalog = catalog::Catalog::FromText(catalog::EmbeddedCatalogText());
    ASSERT_TRUE(catalog.ok());
    storage::DbSession db(db_.dsn());
    auto boot = controlplane::Bootstrap(db);
    ASSERT_TRUE(boot.ok()) << boot.status();
    boot_ = *boot;
    server_ = std::make_unique<controlplane::Controlplane>(config, *catalog);
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    instances_ = v1::InstanceService::NewStub(channel_);
    operations_ = v1::OperationService::NewStub(channel_);
    resources_ = v1::ResourceService::NewStub(channel_);
    accounts_ = v1::ServiceAccountService::NewStub(channel_);
    keys_ = v1::ApiKeyService::NewStub(channel_);
    users_ = v1::UserAccountService::NewStub(channel_);
    bindings_ = v1::AccessBindingService::NewStub(channel_);
    nodes_ = v1::NodeService::NewStub(channel_);
    snapshots_ = v1::AccessSnapshotService::NewStub(channel_);
    routes_ = v1::RouteService::NewStub(channel_);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& key) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!key.empty()) ctx->AddMetadata("authorization", "Api-Key " + key);
    return ctx;
  }
  const std::string& Admin() const { return boot_.admin_secret; }

  std::string CreateCloud(const std::string& name) {
    v1::CreateCloudRequest req;
    req.set_name(name);
    v1::Operation op;
    grpc::Status s = resources_->CreateCloud(Ctx(Admin()).get(), req, &op);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::Cloud cloud;
    op.response().UnpackTo(&cloud);
    return cloud.id();
  }
  std::string CreateFolder(const std::string& cloud_id, const std::string& name) {
    v1::CreateFolderRequest req;
    req.set_cloud_id(cloud_id);
    req.set_name(name);
    v1::Operation op;
    grpc::Status s = resources_->CreateFolder(Ctx(Admin()).get(), req, &op);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::Folder folder;
    op.response().UnpackTo(&folder);
    return folder.id();
  }
  std::string CreateServiceAccount(const std::string& folder_id, const std::string& name) {
    v1::CreateServiceAccountRequest req;
    req.set_folder_id(folder_id);
    req.set_name(name);
    v1::ServiceAccount sa;
    grpc::Status s = accounts_->Create(Ctx(Admin()).get(), req, &sa);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return sa.id();
  }
  std::string CreateUser(const std::string& name) {
    v1::CreateUserAccountRequest req;
    req.set_name(name);
    v1::UserAccount user;
    grpc::Status s = users_->Create(Ctx(Admin()).get(), req, &user);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return user.id();
  }
  v1::CreateApiKeyResponse CreateKey(const std::string& subject_id, const std::string& key = "") {
    v1::CreateApiKeyRequest req;
    req.set_subject_id(subject_id);
    v1::CreateApiKeyResponse resp;
    grpc::Status s = keys_->Create(Ctx(key.empty() ? Admin() : key).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  grpc::Status Bind(const std::string& resource_id, const std::string& role, const std::string& sa_id,
                    v1::AccessBindingAction action = v1::ADD) {
    v1::UpdateAccessBindingsRequest req;
    req.set_resource_id(resource_id);
    auto* d = req.add_access_binding_deltas();
    d->set_action(action);
    d->mutable_access_binding()->set_role_id(role);
    d->mutable_access_binding()->mutable_subject()->set_type("serviceAccount");
    d->mutable_access_binding()->mutable_subject()->set_id(sa_id);
    v1::Operation op;
    return bindings_->UpdateAccessBindings(Ctx(Admin()).get(), req, &op);
  }
  // Creates an instance as the admin; returns {instance id, operation id}.
  std::pair<std::string, std::string> CreateInstance(const std::string& folder_id, const std::string& key = "") {
    v1::CreateInstanceRequest req;
    req.set_folder_id(folder_id);
    req.set_name(RandomName("inst"));
    req.set_model_id("gemma-3-4b-it");
    req.set_configuration("S");
    v1::Operation op;
    grpc::Status s = instances_->Create(Ctx(key.empty() ? Admin() : key).get(), req, &op);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::CreateInstanceMetadata md;
    op.metadata().UnpackTo(&md);
    return {md.instance_id(), op.id()};
  }
  grpc::Status GetInstance(const std::string& key, const std::string& id) {
    v1::GetInstanceRequest req;
    req.set_instance_id(id);
    v1::Instance out;
    return instances_->Get(Ctx(key).get(), req, &out);
  }

  storage::TestDatabase db_;
  controlplane::BootstrapResult boot_;
  std::unique_ptr<controlplane::Controlplane> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::InstanceService::Stub> instances_;
  std::unique_ptr<v1::OperationService::Stub> operations_;
  std::unique_ptr<v1::ResourceService::Stub> resources_;
  std::unique_ptr<v1::ServiceAccountService::Stub> accounts_;
  std::unique_ptr<v1::ApiKeyService::Stub> keys_;
  std::unique_ptr<v1::UserAccountService::Stub> users_;
  std::unique_ptr<v1::AccessBindingService::Stub> bindings_;
  std::unique_ptr<v1::NodeService::Stub> nodes_;
  std::unique_ptr<v1::AccessSnapshotService::Stub> snapshots_;
  std::unique_ptr<v1::RouteService::Stub> routes_;
};

// ---- The permission matrix ----

// Where a subject's one binding sits, relative to the folder the calls are about.
enum class Placement { kThisFolder, kItsCloud, kSiblingFolder, kOtherCloud };
constexpr Placement kPlacements[] = {Placement::kThisFolder, Placement::kItsCloud, Placement::kSiblingFolder,
                                     Placement::kOtherCloud};
const char* PlacementName(Placement p) {
  switch (p) {
    case Placement::kThisFolder: return "this folder";
    case Placement::kItsCloud: return "its cloud";
    case Placement::kSiblingFolder: return "a sibling folder";
    case Placement::kOtherCloud: return "another cloud";
  }
  return "?";
}

TEST_F(IamTest, PermissionMatrixCoversEveryRpcRoleAndPlacement) {
  // The world: cloud A with folders A1 (the calls' folder) and A2, cloud B with folder B1.
  const std::string cloud_a = CreateCloud("cloud-a"), cloud_b = CreateCloud("cloud-b");
  const std::string a1 = CreateFolder(cloud_a, "a1"), a2 = CreateFolder(cloud_a, "a2");
  const std::string b1 = CreateFolder(cloud_b, "b1");
  const std::string target_sa = CreateServiceAccount(a1, "target");
  const std::string bystander = CreateServiceAccount(b1, "bystander");
  auto [instance_id, operation_id] = CreateInstance(a1);
  const std::string user = CreateUser("someone");

  // One subject per role and placement, plus one with no role at all.
  struct Subject {
    std::string role;  // "" = no role
    Placement placement = Placement::kThisFolder;
    std::string key;
  };
  std::vector<Subject> subjects;
  subjects.push_back({"", Placement::kThisFolder, ""});
  for (const std::string& role : iam::KnownRoles()) {
    for (Placement p : kPlacements) subjects.push_back({role, p, ""});
  }
  for (size_t i = 0; i < subjects.size(); ++i) {
    Subject& s = subjects[i];
    std::string sa = CreateServiceAccount(b1, absl::StrCat("subject-", i));
    s.key = CreateKey(sa).secret();
    if (s.role.empty()) continue;
    std::string on = s.placement == Placement::kThisFolder    ? a1
                     : s.placement == Placement::kItsCloud    ? cloud_a
                     : s.placement == Placement::kSiblingFolder ? a2
                                                              : cloud_b;
    ASSERT_TRUE(Bind(on, s.role, sa).ok());
  }

  // How to call each RPC about folder A1 (or cloud A for cloud RPCs). Calls that change or consume their
  // target get a fresh one. Adding an RPC to a service without adding it here fails the test below.
  using Build = std::function<std::unique_ptr<google::protobuf::Message>(google::protobuf::Message*)>;
  auto set = [](google::protobuf::Message* m, const std::string& field, const std::string& value) {
    const auto* f = m->GetDescriptor()->FindFieldByName(field);
    ASSERT_NE(f, nullptr) << field;
    m->GetReflection()->SetString(m, f, value);
  };
  std::map<std::string, std::function<void(google::protobuf::Message*)>> cases = {
      {"InstanceService.Get", [&](auto* m) { set(m, "instance_id", instance_id); }},
      {"InstanceService.List", [&](auto* m) { set(m, "folder_id", a1); }},
      {"InstanceService.Create",
       [&](auto* m) {
         auto* r = static_cast<v1::CreateInstanceRequest*>(m);
         r->set_folder_id(a1);
         r->set_name(RandomName("made"));
         r->set_model_id("gemma-3-4b-it");
         r->set_configuration("S");
       }},
      {"InstanceService.Update",
       [&](auto* m) {
         auto* r = static_cast<v1::UpdateInstanceRequest*>(m);
         r->set_instance_id(instance_id);
         r->set_description("updated");
         r->mutable_update_mask()->add_paths("description");
       }},
      {"InstanceService.Delete", [&](auto* m) { set(m, "instance_id", CreateInstance(a1).first); }},
      {"InstanceService.Start", [&](auto* m) { set(m, "instance_id", instance_id); }},
      {"InstanceService.Stop", [&](auto* m) { set(m, "instance_id", instance_id); }},
      {"InstanceService.ListOperations", [&](auto* m) { set(m, "instance_id", instance_id); }},
      {"OperationService.Get", [&](auto* m) { set(m, "operation_id", operation_id); }},
      {"OperationService.Cancel", [&](auto* m) { set(m, "operation_id", CreateInstance(a1).second); }},
      {"ModelService.Get", [&](auto* m) { set(m, "model_id", "gemma-3-4b-it"); }},
      {"ModelService.List", [&](auto*) {}},
      {"AccessBindingService.ListAccessBindings", [&](auto* m) { set(m, "resource_id", a1); }},
      {"AccessBindingService.SetAccessBindings",
       [&](auto* m) {
         // The current bindings, sent back unchanged: allowed for whoever may set bindings at all.
         v1::ListAccessBindingsRequest list;
         list.set_resource_id(a1);
         list.set_page_size(1000);
         v1::ListAccessBindingsResponse current;
         ASSERT_TRUE(bindings_->ListAccessBindings(Ctx(Admin()).get(), list, &current).ok());
         auto* r = static_cast<v1::SetAccessBindingsRequest*>(m);
         r->set_resource_id(a1);
         *r->mutable_access_bindings() = current.access_bindings();
       }},
      {"AccessBindingService.UpdateAccessBindings",
       [&](auto* m) {
         auto* r = static_cast<v1::UpdateAccessBindingsRequest*>(m);
         r->set_resource_id(a1);
         auto* d = r->add_access_binding_deltas();
         d->set_action(v1::ADD);
         d->mutable_access_binding()->set_role_id("ai.models.viewer");
         d->mutable_access_binding()->mutable_subject()->set_type("serviceAccount");
         d->mutable_access_binding()->mutable_subject()->set_id(bystander);
       }},
      {"BillingService.GetUsage", [&](auto* m) { set(m, "folder_id", a1); }},
      {"BillingService.ListUsageRecords", [&](auto* m) { set(m, "folder_id", a1); }},
      {"NodeService.Register",
       [&](auto* m) {
         auto* r = static_cast<v1::RegisterNodeRequest*>(m);
         r->set_name(RandomName("node"));
         r->set_gpu_type("H100-80GB");
         r->set_gpu_count(1);
         r->set_address("127.0.0.1");
         r->set_engine_kind("engine-sim");
       }},
      {"NodeService.Heartbeat", [&](auto* m) { set(m, "node_id", "dndnosuchnode"); }},
      {"NodeService.WatchAssignments", [&](auto* m) { set(m, "node_id", "dndnosuchnode"); }},
      {"NodeService.ReportReplicaStatus", [&](auto* m) { set(m, "node_id", "dndnosuchnode"); }},
      {"NodeAdminService.Get", [&](auto* m) { set(m, "node_id", "dndnosuchnode"); }},
      {"NodeAdminService.List", [&](auto*) {}},
      {"NodeAdminService.Drain", [&](auto* m) { set(m, "node_id", "dndnosuchnode"); }},
      {"NodeAdminService.Undrain", [&](auto* m) { set(m, "node_id", "dndnosuchnode"); }},
      {"ResourceService.GetCloud", [&](auto* m) { set(m, "cloud_id", cloud_a); }},
      {"ResourceService.ListClouds", [&](auto*) {}},
      {"ResourceService.CreateCloud", [&](auto* m) { set(m, "name", RandomName("cloud")); }},
      {"ResourceService.GetFolder", [&](auto* m) { set(m, "folder_id", a1); }},
      {"ResourceService.GetFolderQuota", [&](auto* m) { set(m, "folder_id", a1); }},
      {"ResourceService.SetFolderQuota", [&](auto* m) { set(m, "folder_id", a1); }},
      {"ResourceService.ListFolders", [&](auto* m) { set(m, "cloud_id", cloud_a); }},
      {"ResourceService.CreateFolder",
       [&](auto* m) {
         set(m, "cloud_id", cloud_a);
         set(m, "name", RandomName("folder"));
       }},
      {"ServiceAccountService.Get", [&](auto* m) { set(m, "service_account_id", target_sa); }},
      {"ServiceAccountService.List", [&](auto* m) { set(m, "folder_id", a1); }},
      {"ServiceAccountService.Create",
       [&](auto* m) {
         set(m, "folder_id", a1);
         set(m, "name", RandomName("sa"));
       }},
      {"UserAccountService.Get", [&](auto* m) { set(m, "user_account_id", user); }},
      {"UserAccountService.List", [&](auto*) {}},
      {"UserAccountService.Create", [&](auto* m) { set(m, "name", RandomName("user")); }},
      {"ApiKeyService.Create", [&](auto* m) { set(m, "subject_id", target_sa); }},
      {"ApiKeyService.List", [&](auto* m) { set(m, "subject_id", target_sa); }},
      {"ApiKeyService.Delete", [&](auto* m) { set(m, "api_key_id", CreateKey(target_sa).api_key().id()); }},
      {"AccessSnapshotService.Watch", [&](auto*) {}},
      {"RouteService.Watch", [&](auto*) {}},
  };

  // Every method of every dedicated.v1 service must have a case and an authorization rule.
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  std::vector<const google::protobuf::MethodDescriptor*> methods;
  for (const char* file : {"dedicated/v1/instance_service.proto", "dedicated/v1/operation_service.proto",
                           "dedicated/v1/model_service.proto", "dedicated/v1/access_binding_service.proto",
                           "dedicated/v1/billing_service.proto", "dedicated/v1/node_service.proto",
                           "dedicated/v1/resource_service.proto", "dedicated/v1/api_key_service.proto",
                           "dedicated/v1/access_snapshot_service.proto", "dedicated/v1/node_admin_service.proto",
                           "dedicated/v1/route_service.proto"}) {
    const auto* fd = pool->FindFileByName(file);
    ASSERT_NE(fd, nullptr) << file;
    for (int s = 0; s < fd->service_count(); ++s) {
      for (int m = 0; m < fd->service(s)->method_count(); ++m) methods.push_back(fd->service(s)->method(m));
    }
  }
  // And no service of the package may be missing from the list above.
  std::set<std::string> listed;
  for (const auto* m : methods) listed.insert(m->service()->full_name());
  for (const auto& rule : controlplane::AuthzRules()) {
    std::string service = "dedicated.v1." + std::string(rule.method.substr(0, rule.method.find('.')));
    EXPECT_TRUE(listed.contains(service)) << service << " has rules but is not in the matrix";
  }
  ASSERT_EQ(methods.size(), controlplane::AuthzRules().size()) << "a rule without an RPC, or the reverse";

  grpc::GenericStub generic(channel_);
  int checked = 0;
  for (const auto* method : methods) {
    const std::string name = absl::StrCat(method->service()->name(), ".", method->name());
    auto it = cases.find(name);
    ASSERT_NE(it, cases.end()) << "the permission matrix has no case for " << name;
    const controlplane::AuthzRule* rule = controlplane::FindAuthzRule(name);
    ASSERT_NE(rule, nullptr) << name << " has no authorization rule";
    for (const Subject& subject : subjects) {
      // Expected, from the table: roles and placement.
      bool expected;
      switch (rule->target) {
        case AuthzTarget::kAuthenticated: expected = true; break;
        case AuthzTarget::kInstallationAdmin:
        case AuthzTarget::kSelfOrInstallationAdmin:  // the subjects are service accounts, not that user
        case AuthzTarget::kNodeAgent:
        case AuthzTarget::kGateway: expected = false; break;
        default: {
          bool on_cloud = rule->target == AuthzTarget::kCloud;
          bool applies = subject.placement == Placement::kItsCloud ||
                         (!on_cloud && subject.placement == Placement::kThisFolder);
          expected = !subject.role.empty() && applies && iam::Grants({subject.role}, std::string(rule->permission));
        }
      }
      std::unique_ptr<google::protobuf::Message> request(
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->input_type())->New());
      it->second(request.get());
      grpc::Status status;
      auto ctx = Ctx(subject.key);
      if (method->server_streaming()) {
        ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
        if (name == "NodeService.WatchAssignments") {
          auto reader = nodes_->WatchAssignments(ctx.get(), *static_cast<v1::WatchAssignmentsRequest*>(request.get()));
          v1::Assignments a;
          if (reader->Read(&a)) ctx->TryCancel();
          status = reader->Finish();
        } else if (name == "RouteService.Watch") {
          auto reader = routes_->Watch(ctx.get(), v1::WatchRoutesRequest());
          v1::RouteTable t;
          if (reader->Read(&t)) ctx->TryCancel();
          status = reader->Finish();
        } else {
          auto reader = snapshots_->Watch(ctx.get(), v1::WatchAccessSnapshotRequest());
          v1::AccessSnapshot a;
          if (reader->Read(&a)) ctx->TryCancel();
          status = reader->Finish();
        }
      } else {
        std::string bytes = request->SerializeAsString();
        grpc::Slice slice(bytes);
        grpc::ByteBuffer in(&slice, 1), out;
        std::promise<grpc::Status> done;
        generic.UnaryCall(ctx.get(), absl::StrCat("/", method->service()->full_name(), "/", method->name()),
                          grpc::StubOptions(), &in, &out, [&](grpc::Status s) { done.set_value(s); });
        status = done.get_future().get();
      }
      // A check independent of the table: read-only roles never change anything. Every method that
      // returns an Operation (other than reading one), or creates or deletes, changes state.
      bool mutating = (method->output_type()->full_name() == "dedicated.v1.Operation" && method->name() != "Get") ||
                      absl::StartsWith(method->name(), "Create") || absl::StartsWith(method->name(), "Delete");
      bool read_only_role = subject.role == "viewer" || subject.role == "ai.models.viewer" ||
                            subject.role == "ai.languageModels.user" || subject.role.empty();
      if (mutating && read_only_role) {
        EXPECT_FALSE(expected) << "the table lets read-only role \"" << subject.role << "\" call " << name;
      }
      bool denied = status.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
                    status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                    status.error_code() == grpc::StatusCode::NOT_FOUND;
      EXPECT_EQ(!denied, expected) << name << " by role \"" << subject.role << "\" bound on "
                                   << PlacementName(subject.placement) << ": got " << status.error_code() << " "
                                   << status.error_message();
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(methods.size() * subjects.size()));
}

// ---- Authentication and revocation ----

TEST_F(IamTest, MissingOrWrongKeyIsUnauthenticated) {
  EXPECT_EQ(GetInstance("", "dinwhatever").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GetInstance("dik_not-a-real-key", "dinwhatever").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Basic " + Admin());
  v1::ListCloudsResponse clouds;
  grpc::Status s = resources_->ListClouds(ctx.get(), v1::ListCloudsRequest(), &clouds);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr(Admin()))) << "never echoes the secret";
}

TEST_F(IamTest, RevokedRoleAndDeletedKeyFailOnTheNextCall) {
  std::string sa = CreateServiceAccount(boot_.folder_id, "reader");
  auto key = CreateKey(sa);
  auto [instance_id, op] = CreateInstance(boot_.folder_id);
  EXPECT_EQ(GetInstance(key.secret(), instance_id).error_code(), grpc::StatusCode::NOT_FOUND) << "no role yet";
  ASSERT_TRUE(Bind(boot_.folder_id, "ai.models.viewer", sa).ok());
  EXPECT_TRUE(GetInstance(key.secret(), instance_id).ok()) << "granted: works on the next call";
  ASSERT_TRUE(Bind(boot_.folder_id, "ai.models.viewer", sa, v1::REMOVE).ok());
  EXPECT_EQ(GetInstance(key.secret(), instance_id).error_code(), grpc::StatusCode::NOT_FOUND)
      << "revoked: refused on the very next call";

  ASSERT_TRUE(Bind(boot_.folder_id, "ai.models.viewer", sa).ok());
  ASSERT_TRUE(GetInstance(key.secret(), instance_id).ok());
  v1::DeleteApiKeyRequest del;
  del.set_api_key_id(key.api_key().id());
  v1::DeleteApiKeyResponse deleted;
  ASSERT_TRUE(keys_->Delete(Ctx(Admin()).get(), del, &deleted).ok());
  EXPECT_EQ(GetInstance(key.secret(), instance_id).error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << "deleted key: refused on the very next call";
  EXPECT_EQ(keys_->Delete(Ctx(Admin()).get(), del, &deleted).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(IamTest, ExpiredKeyIsRefused) {
  std::string sa = CreateServiceAccount(boot_.folder_id, "short-lived");
  ASSERT_TRUE(Bind(boot_.folder_id, "ai.models.viewer", sa).ok());
  v1::CreateApiKeyRequest req;
  req.set_subject_id(sa);
  req.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Seconds(2)));
  v1::CreateApiKeyResponse key;
  ASSERT_TRUE(keys_->Create(Ctx(Admin()).get(), req, &key).ok());
  v1::ListInstancesRequest list;
  list.set_folder_id(boot_.folder_id);
  v1::ListInstancesResponse out;
  EXPECT_TRUE(instances_->List(Ctx(key.secret()).get(), list, &out).ok());
  absl::SleepFor(absl::Seconds(2.2));
  EXPECT_EQ(instances_->List(Ctx(key.secret()).get(), list, &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  req.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Seconds(1)));
  grpc::Status past = keys_->Create(Ctx(Admin()).get(), req, &key);
  EXPECT_EQ(past.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(past.error_message(), HasSubstr("expires_at"));
}

TEST_F(IamTest, AbsentAndForeignInstancesLookTheSame) {
  const std::string other_cloud = CreateCloud("elsewhere");
  const std::string other_folder = CreateFolder(other_cloud, "theirs");
  auto [theirs, op] = CreateInstance(other_folder);
  std::string sa = CreateServiceAccount(boot_.folder_id, "outsider");
  ASSERT_TRUE(Bind(boot_.folder_id, "admin", sa).ok());
  std::string key = CreateKey(sa).secret();

  // The same id shape: "din" + 17 characters.
  std::string absent = "din" + std::string(theirs.size() - 3, 'a');
  for (auto call : {+[](IamTest* t, const std::string& k, const std::string& id) { return t->GetInstance(k, id); },
                    +[](IamTest* t, const std::string& k, const std::string& id) {
                      v1::StopInstanceRequest r;
                      r.set_instance_id(id);
                      v1::Operation o;
                      return t->instances_->Stop(t->Ctx(k).get(), r, &o);
                    }}) {
    grpc::Status a = call(this, key, absent), b = call(this, key, theirs);
    EXPECT_EQ(a.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(b.error_code(), a.error_code());
    std::string ma = a.error_message(), mb = b.error_message();
    EXPECT_EQ(mb.replace(mb.find(theirs), theirs.size(), "ID"), ma.replace(ma.find(absent), absent.size(), "ID"))
        << "same message apart from the id itself";
  }
  v1::GetOperationRequest get_op;
  get_op.set_operation_id(op);
  v1::Operation out;
  EXPECT_EQ(operations_->Get(Ctx(key).get(), get_op, &out).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(IamTest, SecretsNeverAppearInListsGetsOrTheSnapshot) {
  std::string sa = CreateServiceAccount(boot_.folder_id, "holder");
  auto key = CreateKey(sa);
  ASSERT_THAT(key.secret(), ::testing::StartsWith("dik_"));
  v1::ListApiKeysRequest list;
  list.set_subject_id(sa);
  v1::ListApiKeysResponse keys;
  ASSERT_TRUE(keys_->List(Ctx(Admin()).get(), list, &keys).ok());
  ASSERT_EQ(keys.api_keys_size(), 1);
  EXPECT_EQ(keys.DebugString().find(key.secret()), std::string::npos);
  v1::GetServiceAccountRequest get;
  get.set_service_account_id(sa);
  v1::ServiceAccount account;
  ASSERT_TRUE(accounts_->Get(Ctx(Admin()).get(), get, &account).ok());
  EXPECT_EQ(account.DebugString().find(key.secret()), std::string::npos);

  auto ctx = Ctx(boot_.gateway_secret);
  auto reader = snapshots_->Watch(ctx.get(), v1::WatchAccessSnapshotRequest());
  v1::AccessSnapshot snapshot;
  ASSERT_TRUE(reader->Read(&snapshot));
  EXPECT_GE(snapshot.api_keys_size(), 4);
  for (const std::string& secret : {key.secret(), Admin(), boot_.node_secret, boot_.gateway_secret}) {
    EXPECT_EQ(snapshot.DebugString().find(secret), std::string::npos);
  }
  ctx->TryCancel();
}

TEST_F(IamTest, GatewaySnapshotStreamPushesRevocationsWithinASecond) {
  std::string sa = CreateServiceAccount(boot_.folder_id, "caller");
  auto key = CreateKey(sa);
  auto ctx = Ctx(boot_.gateway_secret);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = snapshots_->Watch(ctx.get(), v1::WatchAccessSnapshotRequest());
  v1::AccessSnapshot snapshot;
  ASSERT_TRUE(reader->Read(&snapshot));
  auto has_key = [&](const v1::AccessSnapshot& s) {
    for (const auto& k : s.api_keys()) {
      if (k.key_id() == key.api_key().id()) return true;
    }
    return false;
  };
  ASSERT_TRUE(has_key(snapshot));
  v1::DeleteApiKeyRequest del;
  del.set_api_key_id(key.api_key().id());
  v1::DeleteApiKeyResponse deleted;
  absl::Time revoked = absl::Now();
  ASSERT_TRUE(keys_->Delete(Ctx(Admin()).get(), del, &deleted).ok());
  while (has_key(snapshot)) ASSERT_TRUE(reader->Read(&snapshot));
  EXPECT_LT(absl::Now() - revoked, absl::Seconds(1));
  ctx->TryCancel();
}

// The gateways' routing table: a new instance appears (with the catalog's concurrency limit) within a
// second, without replicas until one is READY. Other callers were refused by the matrix above.
TEST_F(IamTest, GatewayRouteStreamListsNewInstancesWithinASecond) {
  auto ctx = Ctx(boot_.gateway_secret);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = routes_->Watch(ctx.get(), v1::WatchRoutesRequest());
  v1::RouteTable table;
  ASSERT_TRUE(reader->Read(&table));
  absl::Time created = absl::Now();
  auto [instance_id, op_id] = CreateInstance(boot_.folder_id);
  const v1::InstanceRoute* found = nullptr;
  while (found == nullptr) {
    ASSERT_TRUE(reader->Read(&table));
    for (const auto& i : table.instances()) {
      if (i.instance_id() == instance_id) found = &i;
    }
  }
  EXPECT_LT(absl::Now() - created, absl::Seconds(1));
  EXPECT_EQ(found->folder_id(), boot_.folder_id);
  EXPECT_EQ(found->model_uri(), absl::StrCat("dedicated://", boot_.folder_id, "/", instance_id));
  EXPECT_EQ(found->configuration(), "S");
  EXPECT_GT(found->max_concurrency(), 0);
  EXPECT_NE(found->status(), v1::Instance::ACTIVE);
  EXPECT_EQ(found->replicas_size(), 0);  // no node: nothing READY
  EXPECT_FALSE(table.version().empty());
  ctx->TryCancel();
}

TEST_F(IamTest, BadInputIsInvalidArgumentNamingTheField) {
  std::string sa = CreateServiceAccount(boot_.folder_id, "subject");
  auto update = [&](const std::string& resource, const std::string& role, const std::string& type,
                    const std::string& id, int copies = 1) {
    v1::UpdateAccessBindingsRequest req;
    req.set_resource_id(resource);
    for (int i = 0; i < copies; ++i) {
      auto* d = req.add_access_binding_deltas();
      d->set_action(v1::ADD);
      d->mutable_access_binding()->set_role_id(role);
      d->mutable_access_binding()->mutable_subject()->set_type(type);
      d->mutable_access_binding()->mutable_subject()->set_id(id);
    }
    v1::Operation op;
    return bindings_->UpdateAccessBindings(Ctx(Admin()).get(), req, &op);
  };
  struct Case {
    grpc::Status status;
    std::string field;
  } cases[] = {
      {update(boot_.folder_id, "ai.models.superuser", "serviceAccount", sa), "access_binding_deltas[0].access_binding.role_id"},
      {update(boot_.folder_id, "viewer", "robot", sa), "access_binding_deltas[0].access_binding.subject.type"},
      {update(boot_.folder_id, "viewer", "serviceAccount", "no such id!"), "access_binding_deltas[0].access_binding.subject.id"},
      {update(boot_.folder_id, "viewer", "serviceAccount", "dsanosuchaccount"), "access_binding_deltas[0].access_binding.subject.id"},
      {update(boot_.folder_id, "viewer", "system", "everyone"), "access_binding_deltas[0].access_binding.subject.id"},
      {update("dfonosuchfolder", "viewer", "serviceAccount", sa), "resource_id"},
      {update(boot_.folder_id, "viewer", "serviceAccount", sa, 1001), "access_binding_deltas"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field << ": " << c.status.error_message();
    EXPECT_THAT(c.status.error_message(), ::testing::StartsWith(c.field));
  }
  EXPECT_TRUE(update(boot_.folder_id, "viewer", "serviceAccount", sa, 1000).ok()) << "1000 deltas are fine";
}

TEST_F(IamTest, GrantsAreLimitedToRolesTheCallerHolds) {
  std::string sa = CreateServiceAccount(boot_.folder_id, "models-admin");
  ASSERT_TRUE(Bind(boot_.folder_id, "ai.models.admin", sa).ok());
  std::string key = CreateKey(sa).secret();
  v1::UpdateAccessBindingsRequest req;
  req.set_resource_id(boot_.folder_id);
  auto* d = req.add_access_binding_deltas();
  d->set_action(v1::ADD);
  d->mutable_access_binding()->set_role_id("admin");
  d->mutable_access_binding()->mutable_subject()->set_type("serviceAccount");
  d->mutable_access_binding()->mutable_subject()->set_id(sa);
  v1::Operation op;
  grpc::Status s = bindings_->UpdateAccessBindings(Ctx(key).get(), req, &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << "no escalation to admin";
  d->mutable_access_binding()->set_role_id("ai.models.editor");
  s = bindings_->UpdateAccessBindings(Ctx(key).get(), req, &op);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(op.done());
  EXPECT_EQ(op.created_by(), sa) << "created_by is the caller";
}

TEST_F(IamTest, OperationsRecordTheCallerAndNodeServiceWantsANodeCredential) {
  std::string sa = CreateServiceAccount(boot_.folder_id, "deployer");
  ASSERT_TRUE(Bind(boot_.folder_id, "ai.models.editor", sa).ok());
  std::string key = CreateKey(sa).secret();
  v1::CreateInstanceRequest req;
  req.set_folder_id(boot_.folder_id);
  req.set_name("mine");
  req.set_model_id("gemma-3-4b-it");
  req.set_configuration("S");
  v1::Operation op;
  ASSERT_TRUE(instances_->Create(Ctx(key).get(), req, &op).ok());
  EXPECT_EQ(op.created_by(), sa);

  v1::HeartbeatRequest hb;
  hb.set_node_id("dndnosuchnode");
  v1::HeartbeatResponse resp;
  EXPECT_EQ(nodes_->Heartbeat(Ctx(Admin()).get(), hb, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "not even the admin key";
  EXPECT_NE(nodes_->Heartbeat(Ctx(boot_.node_secret).get(), hb, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListInstancesRequest list;
  list.set_folder_id(boot_.folder_id);
  v1::ListInstancesResponse out;
  EXPECT_EQ(instances_->List(Ctx(boot_.node_secret).get(), list, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "node credentials do not act as users";
}

TEST_F(IamTest, UsersManageTheirOwnKeysAndNobodyElseCan) {
  const std::string user = CreateUser("alice");
  const std::string alice = CreateKey(user).secret();  // the installation admin may
  // Alice makes, lists and deletes her own keys.
  auto second = CreateKey(user, alice);
  v1::ListApiKeysRequest list;
  list.set_subject_id(user);
  v1::ListApiKeysResponse keys;
  ASSERT_TRUE(keys_->List(Ctx(alice).get(), list, &keys).ok());
  EXPECT_EQ(keys.api_keys_size(), 2);
  v1::DeleteApiKeyRequest del;
  del.set_api_key_id(second.api_key().id());
  v1::DeleteApiKeyResponse deleted;
  EXPECT_TRUE(keys_->Delete(Ctx(alice).get(), del, &deleted).ok());
  v1::GetUserAccountRequest get;
  get.set_user_account_id(user);
  v1::UserAccount me;
  EXPECT_TRUE(users_->Get(Ctx(alice).get(), get, &me).ok());
  EXPECT_EQ(me.name(), "alice");
  v1::ListUserAccountsResponse all;
  EXPECT_EQ(users_->List(Ctx(alice).get(), v1::ListUserAccountsRequest(), &all).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // A folder admin cannot touch a person's keys.
  std::string sa = CreateServiceAccount(boot_.folder_id, "folder-admin");
  ASSERT_TRUE(Bind(boot_.folder_id, "admin", sa).ok());
  std::string other = CreateKey(sa).secret();
  v1::CreateApiKeyRequest req;
  req.set_subject_id(user);
  v1::CreateApiKeyResponse resp;
  EXPECT_EQ(keys_->Create(Ctx(other).get(), req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(users_->Get(Ctx(other).get(), get, &me).error_code(), grpc::StatusCode::NOT_FOUND);

  // Bindings name users like service accounts.
  v1::UpdateAccessBindingsRequest bind;
  bind.set_resource_id(boot_.folder_id);
  auto* d = bind.add_access_binding_deltas();
  d->set_action(v1::ADD);
  d->mutable_access_binding()->set_role_id("ai.models.viewer");
  d->mutable_access_binding()->mutable_subject()->set_type("userAccount");
  d->mutable_access_binding()->mutable_subject()->set_id(user);
  v1::Operation op;
  ASSERT_TRUE(bindings_->UpdateAccessBindings(Ctx(Admin()).get(), bind, &op).ok());
  v1::ListInstancesRequest instances;
  instances.set_folder_id(boot_.folder_id);
  v1::ListInstancesResponse listed;
  EXPECT_TRUE(instances_->List(Ctx(alice).get(), instances, &listed).ok());
}

TEST_F(IamTest, ListsShowOnlyWhatTheCallerMaySee) {
  const std::string cloud = CreateCloud("listing");
  const std::string mine = CreateFolder(cloud, "mine"), theirs = CreateFolder(cloud, "theirs");
  std::string sa = CreateServiceAccount(mine, "lister");
  ASSERT_TRUE(Bind(mine, "ai.models.viewer", sa).ok());
  std::string key = CreateKey(sa).secret();
  v1::ListFoldersRequest folders;
  folders.set_cloud_id(cloud);
  v1::ListFoldersResponse seen;
  ASSERT_TRUE(resources_->ListFolders(Ctx(key).get(), folders, &seen).ok());
  ASSERT_EQ(seen.folders_size(), 1);
  EXPECT_EQ(seen.folders(0).id(), mine);
  v1::ListCloudsResponse clouds;
  ASSERT_TRUE(resources_->ListClouds(Ctx(key).get(), v1::ListCloudsRequest(), &clouds).ok());
  EXPECT_EQ(clouds.clouds_size(), 0) << "a folder role does not show the cloud";
  ASSERT_TRUE(resources_->ListClouds(Ctx(Admin()).get(), v1::ListCloudsRequest(), &clouds).ok());
  EXPECT_EQ(clouds.clouds_size(), 2) << "the default cloud and the one it created";
  ASSERT_TRUE(resources_->ListFolders(Ctx(Admin()).get(), folders, &seen).ok());
  EXPECT_EQ(seen.folders_size(), 2);
  (void)theirs;
}

TEST_F(IamTest, FolderQuotasRefuseCreatesNamingTheQuota) {
  const std::string folder = CreateFolder(boot_.cloud_id, "quoted");
  v1::SetFolderQuotaRequest set;
  set.set_folder_id(folder);
  set.set_max_instances(2);
  set.set_max_gpus(2);
  v1::Operation op;
  ASSERT_TRUE(resources_->SetFolderQuota(Ctx(Admin()).get(), set, &op).ok());
  EXPECT_TRUE(op.done());

  auto create = [&](const std::string& name, const std::string& config) {
    v1::CreateInstanceRequest req;
    req.set_folder_id(folder);
    req.set_name(name);
    req.set_model_id("gemma-3-4b-it");
    req.set_configuration(config);
    v1::Operation out;
    return instances_->Create(Ctx(Admin()).get(), req, &out);
  };
  grpc::Status too_many_gpus = create("big", "L");  // 4 GPUs > 2
  EXPECT_EQ(too_many_gpus.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(too_many_gpus.error_message(), HasSubstr("quota max_gpus"));
  EXPECT_THAT(too_many_gpus.error_message(), HasSubstr("needs 4 more"));
  ASSERT_TRUE(create("one", "S").ok());
  ASSERT_TRUE(create("two", "S").ok());
  grpc::Status too_many = create("three", "S");
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(too_many.error_message(), HasSubstr("quota max_instances"));

  v1::GetFolderQuotaRequest get;
  get.set_folder_id(folder);
  v1::FolderQuota quota;
  ASSERT_TRUE(resources_->GetFolderQuota(Ctx(Admin()).get(), get, &quota).ok());
  EXPECT_EQ(quota.used_instances(), 2);
  EXPECT_EQ(quota.max_instances(), 2);
  EXPECT_TRUE(quota.has_max_gpus());

  // A folder admin may read the quota but not raise it.
  std::string sa = CreateServiceAccount(folder, "folder-admin");
  ASSERT_TRUE(Bind(folder, "admin", sa).ok());
  std::string key = CreateKey(sa).secret();
  EXPECT_TRUE(resources_->GetFolderQuota(Ctx(key).get(), get, &quota).ok());
  set.clear_max_instances();
  EXPECT_EQ(resources_->SetFolderQuota(Ctx(key).get(), set, &op).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  set.set_max_gpus(-1);
  grpc::Status negative = resources_->SetFolderQuota(Ctx(Admin()).get(), set, &op);
  EXPECT_EQ(negative.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(negative.error_message(), ::testing::StartsWith("max_gpus"));
}

TEST_F(IamTest, BootstrapTwiceCreatesNoSecondAdmin) {
  storage::DbSession db(db_.dsn());
  auto again = controlplane::Bootstrap(db);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->admin_account_id, boot_.admin_account_id);
  EXPECT_TRUE(again->admin_secret.empty());
  pqxx::connection conn(db_.dsn());
  pqxx::work tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM accounts WHERE installation_admin")[0].as<int>(), 1);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM clouds")[0].as<int>(), 1);
  // Only hashes are stored.
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM api_keys WHERE secret_hash = $1", Admin())[0][0].as<int>(), 0);
}

}  // namespace
}  // namespace dedicated
