// The controlplane's metrics against the real PostgreSQL: the fleet gauges read from the database
// (instances, nodes, operations, catalog guarantees) and what the operation workers count.
#include "services/controlplane/fleet_metrics.h"

#include <gtest/gtest.h>

#include <optional>

#include "services/controlplane/metrics.h"
#include "services/controlplane/testing/controlplane_fixture.h"

namespace dedicated::controlplane {
namespace {

// The value of the series of `name` whose labels include all of `labels`: a gauge's or counter's value,
// a histogram's sample count. nullopt when there is no such series.
std::optional<double> Value(prometheus::Registry& registry, const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& pair : metric.label) found = found || (pair.name == k && pair.value == v);
        match = match && found;
      }
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        default:
          return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

class FleetMetricsTest : public testing::ControlplaneFixture {
 protected:
  void Collect() { ASSERT_TRUE(fleet_.Collect(session_).ok()); }
  void Exec(const std::string& sql) {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  }
  v1::Operation GetOp(const std::string& id) {
    v1::GetOperationRequest r;
    r.set_operation_id(id);
    return *api_.GetOperation(session_, rc_, r);
  }

  prometheus::Registry registry_;
  FleetMetrics fleet_{registry_, *catalog_};
};

TEST_F(FleetMetricsTest, InstancesAreCountedByModelConfigurationAndStatus) {
  std::string node = RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst", "gemma-3-12b-it", "M", 1);
  std::string id = InstanceIdOf(op);
  Collect();
  EXPECT_EQ(Value(registry_, "dedicated_instances", {{"model", "gemma-3-12b-it"}, {"configuration", "M"}, {"status", "CREATING"}}), 1);
  EXPECT_EQ(Value(registry_, "dedicated_instances", {{"model", "gemma-3-12b-it"}, {"configuration", "M"}, {"status", "ACTIVE"}}), 0)
      << "every catalog configuration and status is there, as zero";
  EXPECT_EQ(Value(registry_, "dedicated_instance_info", {{"instance_id", id}, {"status", "CREATING"}}), 1);
  std::optional<double> age = Value(registry_, "dedicated_instance_status_age_seconds", {{"instance_id", id}, {"status", "CREATING"}});
  ASSERT_TRUE(age.has_value()) << "a CREATING instance has a status age";
  EXPECT_GE(*age, 0);  // (no upper bound: transitions may be stamped by the fixture's fake clock)
  EXPECT_EQ(Value(registry_, "dedicated_operations_in_progress", {{"kind", "CreateInstance"}}), 1);
  EXPECT_TRUE(Value(registry_, "dedicated_operation_oldest_in_progress_seconds", {{"kind", "CreateInstance"}}).has_value());

  DriveSteps();
  ReportAll(node, v1::ReplicaStatus::READY);
  ASSERT_TRUE(DriveUntilDone(op.id()).has_response());
  Collect();
  EXPECT_EQ(Value(registry_, "dedicated_instances", {{"model", "gemma-3-12b-it"}, {"configuration", "M"}, {"status", "ACTIVE"}}), 1);
  EXPECT_EQ(Value(registry_, "dedicated_instances", {{"model", "gemma-3-12b-it"}, {"configuration", "M"}, {"status", "CREATING"}}), 0);
  EXPECT_EQ(Value(registry_, "dedicated_instance_info", {{"instance_id", id}, {"status", "ACTIVE"}}), 1);
  EXPECT_EQ(Value(registry_, "dedicated_instance_info", {{"instance_id", id}, {"status", "CREATING"}}), std::nullopt)
      << "the old status's series is gone";
  EXPECT_EQ(Value(registry_, "dedicated_instance_status_age_seconds", {{"instance_id", id}}), std::nullopt)
      << "ACTIVE is not a transitional status";
  EXPECT_EQ(Value(registry_, "dedicated_operations_in_progress", {{"kind", "CreateInstance"}}), std::nullopt);
}

TEST_F(FleetMetricsTest, NodeGpusStateAndHeartbeatAgeAndRemovedNodesDisappear) {
  std::string node = RegisterNode("node-1", 8);
  RegisterNode("node-2", 4, "A100-80GB");
  v1::Operation op = CreateInstance("inst", "gemma-3-12b-it", "M", 1);  // 2 H100s
  DriveSteps();
  ReportAll(node, v1::ReplicaStatus::READY);
  ASSERT_TRUE(DriveUntilDone(op.id()).has_response());
  Collect();
  const std::map<std::string, std::string> node1{{"node", "node-1"}, {"gpu_type", "H100-80GB"}};
  EXPECT_EQ(Value(registry_, "dedicated_node_gpus", node1), 8);
  EXPECT_EQ(Value(registry_, "dedicated_node_gpus_used", node1), 2);
  EXPECT_EQ(Value(registry_, "dedicated_node_gpus_free", node1), 6);
  EXPECT_EQ(Value(registry_, "dedicated_node_gpus_free", {{"node", "node-2"}, {"gpu_type", "A100-80GB"}}), 4);
  EXPECT_EQ(Value(registry_, "dedicated_node_state", {{"node", "node-1"}, {"state", "READY"}}), 1);
  EXPECT_EQ(Value(registry_, "dedicated_node_state", {{"node", "node-1"}, {"state", "DOWN"}}), 0);

  Exec("UPDATE nodes SET state = 'DOWN', last_heartbeat_at = now() - interval '100 seconds' "
       "WHERE name = 'node-2'");
  Exec("UPDATE nodes SET drained = true WHERE name = 'node-1'");
  Collect();
  EXPECT_EQ(Value(registry_, "dedicated_node_state", {{"node", "node-2"}, {"state", "DOWN"}}), 1);
  EXPECT_EQ(Value(registry_, "dedicated_node_state", {{"node", "node-2"}, {"state", "READY"}}), 0);
  EXPECT_EQ(Value(registry_, "dedicated_node_state", {{"node", "node-1"}, {"state", "DRAINING"}}), 1);
  std::optional<double> age = Value(registry_, "dedicated_node_heartbeat_age_seconds", {{"node", "node-2"}});
  ASSERT_TRUE(age.has_value());
  EXPECT_GE(*age, 100);
  EXPECT_LT(*age, 160);

  Exec("DELETE FROM nodes WHERE name = 'node-2'");
  Collect();
  EXPECT_EQ(Value(registry_, "dedicated_node_gpus", {{"node", "node-2"}}), std::nullopt);
  EXPECT_EQ(Value(registry_, "dedicated_node_state", {{"node", "node-2"}}), std::nullopt);
  EXPECT_EQ(Value(registry_, "dedicated_node_heartbeat_age_seconds", {{"node", "node-2"}}), std::nullopt);
  EXPECT_EQ(Value(registry_, "dedicated_node_gpus", node1), 8) << "the other node stays";
  Exec("UPDATE nodes SET drained = false WHERE name = 'node-1'");
}

TEST_F(FleetMetricsTest, CatalogTtftGuaranteesAreExported) {
  // catalog.textproto: gemma-3-4b-it has a guarantees row per context length; every row is one series.
  std::optional<double> ttft = Value(registry_, "dedicated_catalog_ttft_guarantee_seconds",
                                     {{"model", "qwen2.5-vl-32b-instruct"}, {"configuration", "S"}, {"context_length", "4096"}});
  ASSERT_TRUE(ttft.has_value());
  EXPECT_DOUBLE_EQ(*ttft, 0.45);
}

TEST_F(FleetMetricsTest, SuccessTimestampAdvancesAndErrorsAreCounted) {
  Collect();
  EXPECT_GT(*Value(registry_, "dedicated_fleet_metrics_last_success_timestamp_seconds"), 1.7e9);
  EXPECT_EQ(Value(registry_, "dedicated_fleet_metrics_errors_total"), 0);
  storage::DbSession unreachable("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1");
  EXPECT_FALSE(fleet_.Collect(unreachable).ok());
  EXPECT_EQ(Value(registry_, "dedicated_fleet_metrics_errors_total"), 1);
}

TEST_F(FleetMetricsTest, WorkersCountStartedAndFinishedOperationsAndProvisioningTime) {
  Metrics metrics;
  OperationRunner runner(&config_, &steps_, &metrics, [] {});
  auto drive = [&] {
    for (int i = 0; i < 50; ++i) {
      Exec("UPDATE operations SET next_run_at = now() WHERE NOT done");
      if (!runner.RunOne(session_)) return;
    }
  };
  std::string node = RegisterNode("node-1", 8);
  v1::Operation op = CreateInstance("inst", "gemma-3-4b-it", "S", 1);
  drive();  // placed, STARTING: several steps, one start
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_operations_started_total", {{"kind", "CreateInstance"}}), 1);
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_operations_finished_total", {{"kind", "CreateInstance"}}), std::nullopt);
  ReportAll(node, v1::ReplicaStatus::READY);
  drive();
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_operations_started_total", {{"kind", "CreateInstance"}}), 1)
      << "later steps do not count as starts";
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_operations_finished_total", {{"kind", "CreateInstance"}, {"result", "ok"}}), 1);
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_operation_duration_seconds", {{"kind", "CreateInstance"}, {"result", "ok"}}), 1);
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_instance_provisioning_duration_seconds",
                  {{"model", "gemma-3-4b-it"}, {"configuration", "S"}}),
            1);

  // A Create that fails is an operation outcome, not a provisioning time.
  v1::Operation big = CreateInstance("big", "gemma-3-4b-it", "L", 3);  // 12 GPUs on 8: no capacity
  drive();
  ASSERT_TRUE(GetOp(big.id()).done());
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_operations_started_total", {{"kind", "CreateInstance"}}), 2);
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_operations_finished_total",
                  {{"kind", "CreateInstance"}, {"result", "RESOURCE_EXHAUSTED"}}),
            1);
  EXPECT_EQ(Value(*metrics.registry(), "dedicated_instance_provisioning_duration_seconds",
                  {{"model", "gemma-3-4b-it"}, {"configuration", "L"}}),
            std::nullopt);
}

}  // namespace
}  // namespace dedicated::controlplane
