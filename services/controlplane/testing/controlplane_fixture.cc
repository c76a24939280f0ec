#include "services/controlplane/testing/controlplane_fixture.h"

#include "dedicated/v1/instance_service.pb.h"
#include "services/controlplane/billing_store.h"

namespace dedicated::controlplane::testing {

namespace {
std::shared_ptr<const catalog::Catalog> LoadCatalog() {
  auto c = catalog::Catalog::FromText(catalog::EmbeddedCatalogText());
  if (!c.ok()) ADD_FAILURE() << c.status();
  return *c;
}
ControlplaneConfig TestConfig(const std::string& dsn) {
  ControlplaneConfig c;
  c.database_url = dsn;
  c.metrics_address = "";
  return c;
}
}  // namespace

ControlplaneFixture::ControlplaneFixture()
    : session_(db_.dsn()),
      clock_(absl::FromCivil(absl::CivilSecond(2026, 1, 15, 12, 0, 0), absl::UTCTimeZone())),
      config_(TestConfig(db_.dsn())),
      catalog_(LoadCatalog()),
      api_(catalog_, &clock_, &config_, &wakeups_),
      nodes_(catalog_, &config_, &wakeups_),
      steps_(catalog_, &config_),
      runner_(&config_, &steps_, /*metrics=*/nullptr, [] {}) {
  // Instances belong to folders (a foreign key): the tests use folder1 and folder2 of cloud1.
  pqxx::connection conn(db_.dsn());
  pqxx::work tx(conn);
  tx.exec(
      "INSERT INTO clouds (id, name) VALUES ('cloud1', 'cloud1');"
      "INSERT INTO folders (id, cloud_id, name) VALUES ('folder1', 'cloud1', 'folder1'), ('folder2', 'cloud1', "
      "'folder2')");
  tx.commit();
  // The FakeClock is the time of transitions, billable intervals and heartbeats (di_now()).
  session_.set_clock(&clock_);
  absl::Status seeded = session_.InTransaction(
      "seed sku prices", [this](pqxx::work& t, storage::DbSession& s) { return SeedSkuPrices(t, s, *catalog_); });
  if (!seeded.ok()) ADD_FAILURE() << seeded;
}

void ControlplaneFixture::TearDown() { CheckNoGpuLeak(); }

void ControlplaneFixture::CheckNoGpuLeak() {
  pqxx::connection conn(db_.dsn());
  pqxx::work tx(conn);
  pqxx::result replicas = tx.exec(
      "SELECT r.id, i.model_id, r.configuration, (SELECT count(*) FROM gpus g WHERE g.replica_id = r.id) "
      "FROM replicas r JOIN instances i ON i.id = r.instance_id");
  int64_t held_by_replicas = 0;
  for (const auto& r : replicas) {
    const auto* config = catalog_->FindConfiguration(r[1].as<std::string>(), r[2].as<std::string>());
    ASSERT_NE(config, nullptr);
    EXPECT_EQ(r[3].as<int64_t>(), config->gpu_count()) << "replica " << r[0].as<std::string>();
    held_by_replicas += r[3].as<int64_t>();
  }
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM gpus WHERE replica_id IS NOT NULL")[0].as<int64_t>(), held_by_replicas)
      << "allocated GPUs == GPUs of existing replicas";
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM nodes n WHERE free_gpus <> (SELECT count(*) FROM gpus g "
                     "WHERE g.node_id = n.id AND g.replica_id IS NULL)")[0]
                .as<int64_t>(),
            0)
      << "nodes.free_gpus counts each node's free GPUs";
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM replicas r JOIN instances i ON i.id = r.instance_id "
                     "WHERE r.desired_state <> 'STOPPED' AND i.status IN ('STOPPED', 'ERROR', 'DELETED')")[0]
                .as<int64_t>(),
            0)
      << "a stopped, failed or deleted instance wants no replica running";
}

int64_t ControlplaneFixture::Scalar(const std::string& sql) {
  pqxx::connection conn(db_.dsn());
  pqxx::work tx(conn);
  return tx.exec1(sql)[0].as<int64_t>();
}

void ControlplaneFixture::DriveSteps(int max_steps) {
  for (int i = 0; i < max_steps; ++i) {
    {
      pqxx::connection conn(db_.dsn());
      pqxx::work tx(conn);
      tx.exec("UPDATE operations SET next_run_at = now() WHERE NOT done");
      tx.commit();
    }
    if (!runner_.RunOne(session_)) return;
  }
}

v1::Operation ControlplaneFixture::DriveUntilDone(const std::string& operation_id) {
  for (int i = 0; i < 50; ++i) {
    DriveSteps(1);
    v1::GetOperationRequest req;
    req.set_operation_id(operation_id);
    auto op = api_.GetOperation(session_, rc_, req);
    EXPECT_TRUE(op.ok()) << op.status();
    if (!op.ok() || op->done()) return op.ok() ? *op : v1::Operation();
  }
  ADD_FAILURE() << "operation " << operation_id << " did not finish";
  return v1::Operation();
}

std::string ControlplaneFixture::RegisterNode(const std::string& name, int gpus, const std::string& gpu_type) {
  v1::RegisterNodeRequest req;
  req.set_name(name);
  req.set_gpu_type(gpu_type);
  req.set_gpu_count(gpus);
  req.set_address("127.0.0.1");
  req.set_engine_kind("engine-sim");
  auto r = nodes_.Register(session_, req);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->node_id() : "";
}

void ControlplaneFixture::HeartbeatWith(
    const std::string& node_id,
    const std::function<v1::ReplicaStatus::State(const v1::ReplicaAssignment&)>& state_of,
    const std::string& message) {
  auto snapshot = nodes_.Snapshot(session_, node_id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  v1::HeartbeatRequest hb;
  hb.set_node_id(node_id);
  for (const auto& a : snapshot->replicas()) {
    auto* s = hb.add_replicas();
    s->set_replica_id(a.replica_id());
    s->set_state(state_of(a));
    s->set_message(message);
    if (s->state() == v1::ReplicaStatus::READY) s->set_endpoint("127.0.0.1:20001");
  }
  auto r = nodes_.Heartbeat(session_, hb);
  ASSERT_TRUE(r.ok()) << r.status();
}

void ControlplaneFixture::ReportAll(const std::string& node_id, v1::ReplicaStatus::State state,
                                    const std::string& message) {
  HeartbeatWith(node_id, [state](const v1::ReplicaAssignment&) { return state; }, message);
}

void ControlplaneFixture::ActLikeAgent(const std::string& node_id) {
  HeartbeatWith(node_id, [](const v1::ReplicaAssignment& a) {
    return a.desired_state() == v1::ReplicaAssignment::RUNNING ? v1::ReplicaStatus::READY
                                                               : v1::ReplicaStatus::STOPPED;
  });
}

int ControlplaneFixture::FreeGpus() { return static_cast<int>(Scalar("SELECT count(*) FROM gpus WHERE replica_id IS NULL")); }

v1::Operation ControlplaneFixture::CreateInstance(const std::string& name, const std::string& model,
                                                  const std::string& config, int replicas) {
  v1::CreateInstanceRequest req;
  req.set_folder_id("folder1");
  req.set_name(name);
  req.set_model_id(model);
  req.set_configuration(config);
  req.set_replica_count(replicas);
  auto op = api_.Create(session_, rc_, req);
  EXPECT_TRUE(op.ok()) << op.status();
  return op.ok() ? *op : v1::Operation();
}

v1::Instance ControlplaneFixture::GetInstance(const std::string& id) {
  v1::GetInstanceRequest req;
  req.set_instance_id(id);
  auto i = api_.Get(session_, rc_, req);
  EXPECT_TRUE(i.ok()) << i.status();
  return i.ok() ? *i : v1::Instance();
}

std::string ControlplaneFixture::InstanceIdOf(const v1::Operation& op) {
  v1::CreateInstanceMetadata m;
  op.metadata().UnpackTo(&m);
  return m.instance_id();
}

}  // namespace dedicated::controlplane::testing
