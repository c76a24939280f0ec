// The controlplane in-process on a real PostgreSQL, spoken to through the real generated gRPC clients:
// health, metadata handling, error codes on the wire, and a full lifecycle with a node that talks
// NodeService the way node-agent does (assignment stream, reports).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/model_service.grpc.pb.h"
#include "dedicated/v1/node_admin_service.grpc.pb.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/catalog/catalog.h"
#include "services/common/log.h"
#include "services/controlplane/bootstrap.h"
#include "services/controlplane/controlplane.h"
#include "services/storage/testing/test_database.h"

namespace dedicated {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class GrpcApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controlplane::ControlplaneConfig config;
    config.database_url = db_.dsn();
    config.listen_address = "127.0.0.1:0";
    config.metrics_address = "";
    config.worker_poll = absl::Milliseconds(50);
    config.assignment_poll = absl::Milliseconds(100);
    config.db_threads = 4;
    auto catalog = catalog::Catalog::FromText(catalog::EmbeddedCatalogText());
    ASSERT_TRUE(catalog.ok());
    {
      // Every call is authenticated: the admin key for the API, the node credential for NodeService.
      storage::DbSession db(db_.dsn());
      auto boot = controlplane::Bootstrap(db);
      ASSERT_TRUE(boot.ok()) << boot.status();
      admin_key_ = boot->admin_secret;
      admin_account_ = boot->admin_account_id;
      node_key_ = boot->node_secret;
      folder_ = boot->folder_id;
    }
    server_ = std::make_unique<controlplane::Controlplane>(config, *catalog);
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    instances_ = v1::InstanceService::NewStub(channel_);
    operations_ = v1::OperationService::NewStub(channel_);
    models_ = v1::ModelService::NewStub(channel_);
    nodes_ = v1::NodeService::NewStub(channel_);
    node_admin_ = v1::NodeAdminService::NewStub(channel_);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& idempotency_key = "") {
    return ContextWithKey(admin_key_, idempotency_key);
  }
  std::unique_ptr<grpc::ClientContext> NodeContext() { return ContextWithKey(node_key_, ""); }
  std::unique_ptr<grpc::ClientContext> ContextWithKey(const std::string& key, const std::string& idempotency_key) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!key.empty()) ctx->AddMetadata("authorization", "Api-Key " + key);
    if (!idempotency_key.empty()) ctx->AddMetadata("idempotency-key", idempotency_key);
    return ctx;
  }

  v1::CreateInstanceRequest ValidCreate(const std::string& name) {
    v1::CreateInstanceRequest req;
    req.set_folder_id(folder_);
    req.set_name(name);
    req.set_model_id("gemma-3-4b-it");
    req.set_configuration("S");
    return req;
  }

  v1::Operation WaitDone(const std::string& operation_id) {
    v1::Operation op;
    for (int i = 0; i < 200; ++i) {
      v1::GetOperationRequest req;
      req.set_operation_id(operation_id);
      auto ctx = Context();
      grpc::Status s = operations_->Get(ctx.get(), req, &op);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (op.done()) return op;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "operation " << operation_id << " not done";
    return op;
  }

  std::string RegisterNode(const std::string& name, int gpus) {
    v1::RegisterNodeRequest reg;
    reg.set_name(name);
    reg.set_gpu_type("H100-80GB");
    reg.set_gpu_count(gpus);
    reg.set_address("127.0.0.1");
    reg.set_engine_kind("engine-sim");
    v1::RegisterNodeResponse registered;
    auto ctx = NodeContext();
    grpc::Status s = nodes_->Register(ctx.get(), reg, &registered);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return registered.node_id();
  }

  // Opens a node's assignment stream as node-agent does.
  std::unique_ptr<grpc::ClientReader<v1::Assignments>> Watch(grpc::ClientContext* ctx, const std::string& node_id) {
    v1::WatchAssignmentsRequest watch;
    watch.set_node_id(node_id);
    ctx->AddMetadata("authorization", "Api-Key " + node_key_);
    return nodes_->WatchAssignments(ctx, watch);
  }

  int FreeGpus() {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    return tx.exec1("SELECT count(*) FROM gpus WHERE replica_id IS NULL")[0].as<int>();
  }

  storage::TestDatabase db_;
  std::unique_ptr<v1::NodeAdminService::Stub> node_admin_;
  std::unique_ptr<controlplane::Controlplane> server_;
  std::string admin_key_;
  std::string admin_account_;
  std::string node_key_;
  std::string folder_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::InstanceService::Stub> instances_;
  std::unique_ptr<v1::OperationService::Stub> operations_;
  std::unique_ptr<v1::ModelService::Stub> models_;
  std::unique_ptr<v1::NodeService::Stub> nodes_;
};

TEST_F(GrpcApiTest, HealthServiceSaysServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  auto ctx = Context();
  ASSERT_TRUE(health->Check(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(GrpcApiTest, ModelServiceListsTheCatalog) {
  v1::ListModelsRequest req;
  v1::ListModelsResponse resp;
  auto ctx = Context();
  ASSERT_TRUE(models_->List(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.models_size(), 7);
  v1::GetModelRequest get;
  get.set_model_id("gpt-oss-120b");
  v1::Model model;
  auto ctx2 = Context();
  ASSERT_TRUE(models_->Get(ctx2.get(), get, &model).ok());
  EXPECT_TRUE(model.has_dedicated_available_until());
  ASSERT_EQ(model.configurations_size(), 3);
  get.set_model_id("nope");
  auto ctx3 = Context();
  EXPECT_EQ(models_->Get(ctx3.get(), get, &model).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcApiTest, IdempotencyKeyMetadataReturnsTheSameOperation) {
  v1::Operation first, second, third;
  auto c1 = Context("2b0b2f0e-9f7c-4a3e-8d7e-3f0c1d2e4a5b");
  ASSERT_TRUE(instances_->Create(c1.get(), ValidCreate("one"), &first).ok());
  auto c2 = Context("2b0b2f0e-9f7c-4a3e-8d7e-3f0c1d2e4a5b");
  ASSERT_TRUE(instances_->Create(c2.get(), ValidCreate("one"), &second).ok());
  EXPECT_EQ(first.id(), second.id());
  auto c3 = Context("2b0b2f0e-9f7c-4a3e-8d7e-3f0c1d2e4a5b");
  grpc::Status s = instances_->Create(c3.get(), ValidCreate("two"), &third);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  auto c4 = Context("not a valid key!");
  s = instances_->Create(c4.get(), ValidCreate("three"), &third);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("idempotency-key"));
}

// The API log (call_log.h): one JSON line per call, written before the answer leaves, so the test can
// read stderr as soon as the call returns.
std::vector<nlohmann::json> ApiLogLines(const std::string& stderr_text) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(stderr_text, '\n')) {
    nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("msg", "") == "rpc") lines.push_back(std::move(j));
  }
  return lines;
}

std::string Echoed(const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
  auto it = md.find("x-request-id");
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

TEST_F(GrpcApiTest, EveryCallLogsOneLineWithItsRequestIdAndNeverASecret) {
  testing::internal::CaptureStderr();
  // A mutation with the client's request id: echoed in both metadata, logged with the ids it made.
  auto create_ctx = Context();
  create_ctx->AddMetadata("x-request-id", "it-create-1");
  v1::Operation op;
  ASSERT_TRUE(instances_->Create(create_ctx.get(), ValidCreate("logged"), &op).ok());
  EXPECT_EQ(Echoed(create_ctx->GetServerInitialMetadata()), "it-create-1");
  EXPECT_EQ(Echoed(create_ctx->GetServerTrailingMetadata()), "it-create-1");
  v1::CreateInstanceMetadata metadata;
  ASSERT_TRUE(op.metadata().UnpackTo(&metadata));

  // A failing read: the id still comes back (trailers-only answers carry it in the trailers).
  auto get_ctx = Context();
  get_ctx->AddMetadata("x-request-id", "it-get-404");
  v1::GetInstanceRequest get;
  get.set_instance_id("din00000000000000404");
  v1::Instance instance;
  EXPECT_EQ(instances_->Get(get_ctx.get(), get, &instance).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Echoed(get_ctx->GetServerTrailingMetadata()), "it-get-404");

  // No request id: the server makes one up and says which.
  auto anonymous_ctx = Context();
  v1::ListModelsResponse models;
  ASSERT_TRUE(models_->List(anonymous_ctx.get(), v1::ListModelsRequest(), &models).ok());
  const std::string generated = Echoed(anonymous_ctx->GetServerTrailingMetadata());
  EXPECT_EQ(generated.size(), 32u) << generated;

  // A wrong secret: refused, logged without an account, and the secret is nowhere in the log.
  const std::string wrong_secret = "dik_this-secret-must-never-be-logged";
  auto wrong_ctx = ContextWithKey(wrong_secret, "");
  wrong_ctx->AddMetadata("x-request-id", "it-wrong-key");
  EXPECT_EQ(models_->List(wrong_ctx.get(), v1::ListModelsRequest(), &models).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  FlushLogs();  // info lines are written in batches (services/common/log.h)
  const std::string err = testing::internal::GetCapturedStderr();

  std::map<std::string, nlohmann::json> by_request;
  for (nlohmann::json& line : ApiLogLines(err)) {
    const std::string id = line.value("request_id", "");
    EXPECT_FALSE(by_request.contains(id)) << "two lines for request " << id;
    by_request[id] = std::move(line);
  }
  ASSERT_TRUE(by_request.contains("it-create-1")) << err;
  const nlohmann::json& created = by_request["it-create-1"];
  EXPECT_EQ(created["level"], "info");
  EXPECT_EQ(created["method"], "InstanceService.Create");
  EXPECT_EQ(created["code"], "OK");
  EXPECT_EQ(created["account_id"], admin_account_);
  EXPECT_EQ(created["operation_id"], op.id());
  EXPECT_EQ(created["instance_id"], metadata.instance_id());
  double ms = -1;
  EXPECT_TRUE(absl::SimpleAtod(created.value("duration_ms", ""), &ms));
  EXPECT_GE(ms, 0);

  ASSERT_TRUE(by_request.contains("it-get-404")) << err;
  EXPECT_EQ(by_request["it-get-404"]["method"], "InstanceService.Get");
  EXPECT_EQ(by_request["it-get-404"]["code"], "NOT_FOUND");
  EXPECT_EQ(by_request["it-get-404"]["instance_id"], "din00000000000000404");

  ASSERT_TRUE(by_request.contains(generated)) << err;
  EXPECT_EQ(by_request[generated]["method"], "ModelService.List");

  ASSERT_TRUE(by_request.contains("it-wrong-key")) << err;
  EXPECT_EQ(by_request["it-wrong-key"]["code"], "UNAUTHENTICATED");
  EXPECT_FALSE(by_request["it-wrong-key"].contains("account_id"));

  for (const std::string& secret : {wrong_secret, admin_key_, node_key_}) {
    EXPECT_THAT(err, Not(HasSubstr(secret))) << "a secret reached the log";
  }
}

// Concurrent Gets are answered in batches (get_batcher.h): every caller must still get its own instance,
// or NOT_FOUND for an id that does not exist.
TEST_F(GrpcApiTest, ConcurrentGetsEachGetTheirOwnAnswer) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    v1::Operation op;
    auto ctx = Context();
    ASSERT_TRUE(instances_->Create(ctx.get(), ValidCreate("get-" + std::to_string(i)), &op).ok());
    v1::CreateInstanceMetadata meta;
    ASSERT_TRUE(op.metadata().UnpackTo(&meta));
    ids.push_back(meta.instance_id());
  }
  constexpr int kCalls = 200;
  struct Call {
    grpc::ClientContext ctx;
    v1::GetInstanceRequest req;
    v1::Instance resp;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    call->ctx.AddMetadata("authorization", "Api-Key " + admin_key_);
    call->req.set_instance_id(i % 6 == 5 ? "dinnosuchinstance000" : ids[i % 6]);
    calls.push_back(std::move(call));
  }
  for (auto& call : calls) {
    Call* c = call.get();
    instances_->async()->Get(&c->ctx, &c->req, &c->resp, [c, &mu, &done](grpc::Status s) {
      absl::MutexLock lock(&mu);
      c->status = std::move(s);
      ++done;
    });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* d) { return *d == kCalls; }, &done));
  }
  for (int i = 0; i < kCalls; ++i) {
    if (i % 6 == 5) {
      EXPECT_EQ(calls[i]->status.error_code(), grpc::StatusCode::NOT_FOUND) << i;
    } else {
      ASSERT_TRUE(calls[i]->status.ok()) << i << ": " << calls[i]->status.error_message();
      EXPECT_EQ(calls[i]->resp.id(), ids[i % 6]);
      EXPECT_EQ(calls[i]->resp.name(), "get-" + std::to_string(i % 6));
    }
  }
}

TEST_F(GrpcApiTest, BadInputIsInvalidArgumentNamingTheField) {
  v1::Operation op;
  auto req = ValidCreate("x");
  req.set_model_id("unknown-model");
  auto ctx = Context();
  grpc::Status s = instances_->Create(ctx.get(), req, &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::StartsWith("model_id:"));
  v1::GetInstanceRequest get;
  get.set_instance_id("no spaces allowed");
  v1::Instance instance;
  auto gctx = Context();
  s = instances_->Get(gctx.get(), get, &instance);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::StartsWith("instance_id:"));
}

TEST_F(GrpcApiTest, LifecycleWithANodeSpeakingNodeService) {
  const std::string node_id = RegisterNode("node-a", 8);

  // The agent's stream: the first message is the (empty) snapshot.
  grpc::ClientContext watch_ctx;
  auto stream = Watch(&watch_ctx, node_id);
  v1::Assignments assignments;
  ASSERT_TRUE(stream->Read(&assignments));
  EXPECT_EQ(assignments.replicas_size(), 0);

  v1::Operation create;
  auto cctx = Context();
  ASSERT_TRUE(instances_->Create(cctx.get(), ValidCreate("lifecycle"), &create).ok());
  ASSERT_TRUE(stream->Read(&assignments));
  while (assignments.replicas_size() == 0) ASSERT_TRUE(stream->Read(&assignments));
  const v1::ReplicaAssignment replica = assignments.replicas(0);
  EXPECT_EQ(replica.desired_state(), v1::ReplicaAssignment::RUNNING);
  bool has_sim = false;
  for (const auto& cmd : replica.engine_commands()) has_sim |= cmd.engine_kind() == "engine-sim";
  EXPECT_TRUE(has_sim);

  auto report = [&](v1::ReplicaStatus::State state) {
    v1::ReportReplicaStatusRequest r;
    r.set_node_id(node_id);
    r.mutable_status()->set_replica_id(replica.replica_id());
    r.mutable_status()->set_state(state);
    r.mutable_status()->set_endpoint("127.0.0.1:20001");
    v1::ReportReplicaStatusResponse resp;
    auto ctx = NodeContext();
    ASSERT_TRUE(nodes_->ReportReplicaStatus(ctx.get(), r, &resp).ok());
  };
  report(v1::ReplicaStatus::READY);
  v1::Operation created = WaitDone(create.id());
  ASSERT_TRUE(created.has_response()) << created.error().message();
  v1::Instance instance;
  ASSERT_TRUE(created.response().UnpackTo(&instance));
  EXPECT_EQ(instance.status(), v1::Instance::ACTIVE);
  EXPECT_EQ(FreeGpus(), 7);

  v1::StopInstanceRequest stop;
  stop.set_instance_id(instance.id());
  v1::Operation stopping;
  auto sctx = Context();
  ASSERT_TRUE(instances_->Stop(sctx.get(), stop, &stopping).ok());
  do {
    ASSERT_TRUE(stream->Read(&assignments));
  } while (assignments.replicas_size() == 0 ||
           assignments.replicas(0).desired_state() != v1::ReplicaAssignment::STOPPED);
  report(v1::ReplicaStatus::STOPPED);
  ASSERT_TRUE(WaitDone(stopping.id()).has_response());
  EXPECT_EQ(FreeGpus(), 8);

  watch_ctx.TryCancel();
}

TEST_F(GrpcApiTest, ShutdownEndsOpenAssignmentStreams) {
  const std::string node_id = RegisterNode("node-b", 1);
  grpc::ClientContext watch_ctx;
  auto stream = Watch(&watch_ctx, node_id);
  v1::Assignments assignments;
  ASSERT_TRUE(stream->Read(&assignments));
  absl::Time start = absl::Now();
  server_->Shutdown();
  EXPECT_FALSE(stream->Read(&assignments));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4)) << "streams must not hold shutdown for the grace period";
}

TEST_F(GrpcApiTest, AdminsSeeTheFleetAndDrainedNodesGetNoNewReplicas) {
  const std::string node_id = RegisterNode("node-d", 2);
  v1::ListNodesResponse nodes;
  ASSERT_TRUE(node_admin_->List(Context().get(), v1::ListNodesRequest(), &nodes).ok());
  ASSERT_EQ(nodes.nodes_size(), 1);
  EXPECT_EQ(nodes.nodes(0).state(), v1::Node::READY);
  EXPECT_EQ(nodes.nodes(0).gpus_free(), 2);
  EXPECT_EQ(nodes.nodes(0).gpus_used(), 0);

  v1::DrainNodeRequest drain;
  drain.set_node_id(node_id);
  v1::Operation op;
  ASSERT_TRUE(node_admin_->Drain(Context().get(), drain, &op).ok());
  EXPECT_TRUE(op.done());
  v1::Node drained;
  ASSERT_TRUE(op.response().UnpackTo(&drained));
  EXPECT_EQ(drained.state(), v1::Node::DRAINING);
  v1::Operation again = WaitDone(op.id());
  EXPECT_TRUE(again.done()) << "the installation admin reads node operations";

  v1::Operation create;
  ASSERT_TRUE(instances_->Create(Context().get(), ValidCreate("on-drained"), &create).ok());
  v1::Operation failed = WaitDone(create.id());
  EXPECT_EQ(failed.error().code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED)) << failed.DebugString();

  v1::UndrainNodeRequest undrain;
  undrain.set_node_id(node_id);
  ASSERT_TRUE(node_admin_->Undrain(Context().get(), undrain, &op).ok());
  ASSERT_TRUE(instances_->Create(Context().get(), ValidCreate("on-undrained"), &create).ok());
  for (int i = 0; i < 100; ++i) {
    v1::GetNodeRequest get;
    get.set_node_id(node_id);
    v1::Node node;
    ASSERT_TRUE(node_admin_->Get(Context().get(), get, &node).ok());
    if (node.gpus_used() == 1) {
      EXPECT_EQ(node.state(), v1::Node::READY);
      EXPECT_EQ(node.replica_count(), 1);
      return;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ADD_FAILURE() << "no replica was placed on the undrained node";
}

}  // namespace
}  // namespace dedicated
