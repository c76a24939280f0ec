// Two controlplanes on one database place at once (issue 4): concurrent Creates through both never
// oversubscribe a GPU, and capacity is used exactly: with 8 free GPUs and 12 one-GPU instances, 8 are
// placed and 4 fail with RESOURCE_EXHAUSTED.
#include <grpcpp/grpcpp.h>

#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "services/catalog/catalog.h"
#include "services/controlplane/bootstrap.h"
#include "services/controlplane/controlplane.h"
#include "services/storage/testing/test_database.h"

namespace dedicated {
namespace {

TEST(PlacementRace, TwoControlplanesNeverOversubscribeAGpu) {
  storage::TestDatabase db;
  controlplane::BootstrapResult boot;
  {
    storage::DbSession session(db.dsn());
    auto b = controlplane::Bootstrap(session);
    ASSERT_TRUE(b.ok()) << b.status();
    boot = *b;
  }
  auto catalog = catalog::Catalog::FromText(catalog::EmbeddedCatalogText());
  ASSERT_TRUE(catalog.ok());
  std::vector<std::unique_ptr<controlplane::Controlplane>> servers;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 2; ++i) {
    controlplane::ControlplaneConfig config;
    config.database_url = db.dsn();
    config.listen_address = "127.0.0.1:0";
    config.metrics_address = "";
    config.db_threads = 4;
    config.workers = 4;
    config.worker_poll = absl::Milliseconds(20);
    servers.push_back(std::make_unique<controlplane::Controlplane>(config, *catalog));
    ASSERT_TRUE(servers.back()->Start().ok());
    channels.push_back(grpc::CreateChannel(servers.back()->address(), grpc::InsecureChannelCredentials()));
  }
  auto ctx = [](const std::string& key) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    c->AddMetadata("authorization", "Api-Key " + key);
    return c;
  };
  // Two nodes of 4 GPUs, registered through the first controlplane.
  auto nodes = v1::NodeService::NewStub(channels[0]);
  for (const char* name : {"race-a", "race-b"}) {
    v1::RegisterNodeRequest reg;
    reg.set_name(name);
    reg.set_gpu_type("H100-80GB");
    reg.set_gpu_count(4);
    reg.set_address("127.0.0.1");
    reg.set_engine_kind("engine-sim");
    v1::RegisterNodeResponse resp;
    ASSERT_TRUE(nodes->Register(ctx(boot.node_secret).get(), reg, &resp).ok());
  }

  // 12 Creates at once, alternating between the two controlplanes; their workers place concurrently.
  constexpr int kCreates = 12;
  std::vector<std::string> operations(kCreates);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      auto stub = v1::InstanceService::NewStub(channels[i % 2]);
      v1::CreateInstanceRequest req;
      req.set_folder_id(boot.folder_id);
      req.set_name("race-" + std::to_string(i));
      req.set_model_id("gemma-3-4b-it");
      req.set_configuration("S");
      v1::Operation op;
      grpc::Status s = stub->Create(ctx(boot.admin_secret).get(), req, &op);
      EXPECT_TRUE(s.ok()) << s.error_message();
      operations[i] = op.id();
    });
  }
  for (auto& t : threads) t.join();

  // Each instance ends either placed (a replica, waiting for an engine that never reports) or failed
  // for capacity.
  pqxx::connection conn(db.dsn());
  int placed = 0, exhausted = 0;
  for (int attempt = 0; attempt < 200; ++attempt) {
    pqxx::work tx(conn);
    placed = tx.exec1("SELECT count(DISTINCT instance_id) FROM replicas WHERE desired_state = 'RUNNING'")[0].as<int>();
    exhausted = tx.exec1("SELECT count(*) FROM operations WHERE kind = 'CreateInstance' AND done AND error IS NOT NULL")[0]
                    .as<int>();
    if (placed + exhausted == kCreates) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(placed, 8) << "all capacity used";
  EXPECT_EQ(exhausted, 4) << "the rest refused";
  pqxx::work tx(conn);
  // One GPU per S replica, and never more replicas than GPUs: a GPU row holds at most one replica by
  // construction (gpus.replica_id), so oversubscription would show as a replica without its GPU.
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM gpus WHERE replica_id IS NOT NULL")[0].as<int>(), placed);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM replicas r WHERE desired_state = 'RUNNING' AND "
                     "(SELECT count(*) FROM gpus g WHERE g.replica_id = r.id) <> 1")[0]
                .as<int>(),
            0);
  EXPECT_EQ(tx.exec1("SELECT count(DISTINCT node_id) FROM replicas")[0].as<int>(), 2);
  tx.commit();
  for (auto& s : servers) s->Shutdown();
}

}  // namespace
}  // namespace dedicated
