#include "services/controlplane/fleet_metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/log.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

// Statuses the API shows (DELETED rows are history, not instances).
constexpr const char* kInstanceStatuses[] = {"CREATING", "STARTING", "ACTIVE",   "UPDATING",
                                             "STOPPING", "STOPPED",  "DELETING", "ERROR"};
constexpr const char* kNodeStates[] = {"READY", "DRAINING", "DOWN"};

// Live instances; for those in a transitional status, seconds since they entered it (their last instance
// transition, or their creation). The subquery runs only for those few rows.
constexpr Sql kInstances{"fleet_metrics_instances", R"sql(
  SELECT i.id, i.model_id, i.configuration, i.status,
         CASE WHEN i.status IN ('CREATING', 'STARTING', 'UPDATING', 'STOPPING', 'DELETING') THEN
           extract(epoch FROM now() - coalesce(
             (SELECT max(t.at) FROM state_transitions t
              WHERE t.instance_id = i.id AND t.replica_id IS NULL AND t.to_state = i.status),
             i.created_at))::float8
         END
  FROM instances i WHERE i.deleted_at IS NULL)sql"};
// One row per node. The API's DRAINING is the drained flag of a node that is not DOWN.
constexpr Sql kNodes{"fleet_metrics_nodes", R"sql(
  SELECT name, gpu_type, gpu_count, free_gpus,
         CASE WHEN state = 'DOWN' THEN 'DOWN' WHEN drained OR state = 'DRAINING' THEN 'DRAINING' ELSE 'READY' END,
         greatest(extract(epoch FROM now() - last_heartbeat_at), 0)::float8
  FROM nodes)sql"};
constexpr Sql kOperations{"fleet_metrics_operations", R"sql(
  SELECT kind, count(*), max(extract(epoch FROM now() - created_at))::float8
  FROM operations WHERE NOT done GROUP BY kind)sql"};

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

void GaugeRound::Set(const prometheus::Labels& labels, double value) {
  prometheus::Gauge*& gauge = current_[labels];
  if (gauge == nullptr) {
    auto it = previous_.find(labels);
    gauge = it != previous_.end() ? it->second : &family_.Add(labels);
  }
  gauge->Set(value);
}

void GaugeRound::Finish() {
  for (const auto& [labels, gauge] : previous_) {
    if (!current_.contains(labels)) family_.Remove(gauge);
  }
  previous_ = std::move(current_);
  current_.clear();
}

FleetMetrics::FleetMetrics(prometheus::Registry& registry, const catalog::Catalog& catalog)
    : catalog_(catalog),
      instances_(Gauge(registry, "dedicated_instances",
                       "Instances by model, configuration and status (all replicas report the same: use max)")),
      instance_info_(Gauge(registry, "dedicated_instance_info",
                           "1 per live instance, with its model, configuration and status (for joins)")),
      instance_status_age_(Gauge(registry, "dedicated_instance_status_age_seconds",
                                 "Seconds an instance has been in its transitional status (CREATING, STARTING, "
                                 "UPDATING, STOPPING, DELETING); absent in the other statuses")),
      node_gpus_(Gauge(registry, "dedicated_node_gpus", "GPUs a node registered, by node and GPU type")),
      node_gpus_used_(Gauge(registry, "dedicated_node_gpus_used", "GPUs of a node held by replicas")),
      node_gpus_free_(Gauge(registry, "dedicated_node_gpus_free", "GPUs of a node not held by any replica")),
      node_state_(Gauge(registry, "dedicated_node_state", "1 for the node's current state (READY, DRAINING, DOWN)")),
      node_heartbeat_age_(
          Gauge(registry, "dedicated_node_heartbeat_age_seconds", "Seconds since the node's last heartbeat")),
      operations_in_progress_(
          Gauge(registry, "dedicated_operations_in_progress", "Operations not done yet, by kind")),
      operation_oldest_age_(Gauge(registry, "dedicated_operation_oldest_in_progress_seconds",
                                  "Age of the oldest operation not done yet, by kind")),
      last_success_(Gauge(registry, "dedicated_fleet_metrics_last_success_timestamp_seconds",
                          "When the fleet gauges were last read from the database (Unix time)")
                        .Add({})),
      errors_(prometheus::BuildCounter()
                  .Name("dedicated_fleet_metrics_errors_total")
                  .Help("Rounds of the fleet gauges that could not read the database")
                  .Register(registry)
                  .Add({})) {
  // Constant: the published p95 TTFT bound of every configuration at every context length.
  auto& ttft = Gauge(registry, "dedicated_catalog_ttft_guarantee_seconds",
                     "Catalog: the configuration's p95 time-to-first-token guarantee at a context length");
  for (const auto& model : catalog_.models()) {
    for (const auto& config : model.configurations()) {
      for (const auto& g : config.guarantees()) {
        ttft.Add({{"model", model.id()},
                  {"configuration", config.name()},
                  {"context_length", absl::StrCat(g.context_length())}})
            .Set(static_cast<double>(g.ttft_ms()) / 1000.0);
      }
    }
  }
}

absl::Status FleetMetrics::Collect(storage::DbSession& db) {
  pqxx::result instances, nodes, operations;
  absl::Status status = db.InTransaction("fleet metrics", [&](pqxx::work& tx, storage::DbSession& s) {
    instances = s.Exec(tx, kInstances);
    nodes = s.Exec(tx, kNodes);
    operations = s.Exec(tx, kOperations);
    return absl::OkStatus();
  });
  if (!status.ok()) {
    errors_.Increment();
    return status;
  }

  // Zeros for every catalog configuration and status, so that dashboards and rules see 0, not no data.
  std::map<prometheus::Labels, double> counts;
  for (const auto& model : catalog_.models()) {
    for (const auto& config : model.configurations()) {
      for (const char* st : kInstanceStatuses) {
        counts[{{"model", model.id()}, {"configuration", config.name()}, {"status", st}}] = 0;
      }
    }
  }
  for (const auto& r : instances) {
    prometheus::Labels labels{{"model", r[1].as<std::string>()},
                              {"configuration", r[2].as<std::string>()},
                              {"status", r[3].as<std::string>()}};
    counts[labels] += 1;
    labels["instance_id"] = r[0].as<std::string>();
    instance_info_round_.Set(labels, 1);
    if (!r[4].is_null()) instance_status_age_round_.Set(labels, r[4].as<double>());
  }
  for (const auto& [labels, count] : counts) instances_round_.Set(labels, count);

  for (const auto& r : nodes) {
    std::string node = r[0].as<std::string>();
    prometheus::Labels labels{{"node", node}, {"gpu_type", r[1].as<std::string>()}};
    auto total = r[2].as<double>(), free = r[3].as<double>();
    node_gpus_round_.Set(labels, total);
    node_gpus_used_round_.Set(labels, total - free);
    node_gpus_free_round_.Set(labels, free);
    std::string state = r[4].as<std::string>();
    for (const char* s : kNodeStates) node_state_round_.Set({{"node", node}, {"state", s}}, state == s ? 1 : 0);
    node_heartbeat_age_round_.Set({{"node", node}}, r[5].as<double>());
  }

  for (const auto& r : operations) {
    prometheus::Labels labels{{"kind", r[0].as<std::string>()}};
    operations_in_progress_round_.Set(labels, r[1].as<double>());
    operation_oldest_age_round_.Set(labels, r[2].as<double>());
  }

  for (GaugeRound* round :
       {&instances_round_, &instance_info_round_, &instance_status_age_round_, &node_gpus_round_,
        &node_gpus_used_round_, &node_gpus_free_round_, &node_state_round_, &node_heartbeat_age_round_,
        &operations_in_progress_round_, &operation_oldest_age_round_}) {
    round->Finish();
  }
  last_success_.Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  return absl::OkStatus();
}

void FleetMetricsCollector::Start() { thread_ = std::thread([this] { Loop(); }); }

void FleetMetricsCollector::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void FleetMetricsCollector::Loop() {
  storage::DbSession db(database_url_);
  bool failing = false;
  while (true) {
    absl::Status status = metrics_->Collect(db);
    // One warning when reading starts failing, not one every period.
    if (!status.ok() && !failing) LogWarning("fleet metrics: cannot read the database", {{"error", status.ToString()}});
    if (status.ok() && failing) LogInfo("fleet metrics: reading the database again");
    failing = !status.ok();
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), period_)) return;
  }
}

}  // namespace dedicated::controlplane
