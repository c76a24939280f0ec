#pragma once
// Gauges derived from the database: instances by model, configuration and status; nodes' GPUs, state and
// heartbeat age; operations in progress; and the catalog's TTFT guarantees (constant, for alert rules to
// compare the gateway's TTFT with). A collector thread re-reads them every few seconds in one read
// transaction and replaces every value, so deleted instances and nodes disappear from /metrics.
//
// Every controlplane replica reads the same database and exports the same values: aggregate these with
// max() (or pick one replica), never sum(). deploy/prometheus/rules/ does.

#include <map>
#include <string>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/catalog/catalog.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

// The gauges of one family whose label sets are replaced each round: Set what exists now, then Finish
// removes the children that were not set.
class GaugeRound {
 public:
  explicit GaugeRound(prometheus::Family<prometheus::Gauge>& family) : family_(family) {}
  void Set(const prometheus::Labels& labels, double value);
  void Finish();

 private:
  prometheus::Family<prometheus::Gauge>& family_;
  std::map<prometheus::Labels, prometheus::Gauge*> current_;
  std::map<prometheus::Labels, prometheus::Gauge*> previous_;
};

class FleetMetrics {
 public:
  FleetMetrics(prometheus::Registry& registry, const catalog::Catalog& catalog);

  // One round: reads the database and replaces the values. Instances in a transitional status (CREATING,
  // STARTING, UPDATING, STOPPING, DELETING) also get dedicated_instance_status_age_seconds, so that an
  // alert can name a stuck instance. On error the previous values stay (and
  // dedicated_fleet_metrics_last_success_timestamp_seconds stops advancing).
  absl::Status Collect(storage::DbSession& db);

 private:
  const catalog::Catalog& catalog_;
  prometheus::Family<prometheus::Gauge>& instances_;
  prometheus::Family<prometheus::Gauge>& instance_info_;
  prometheus::Family<prometheus::Gauge>& instance_status_age_;
  prometheus::Family<prometheus::Gauge>& node_gpus_;
  prometheus::Family<prometheus::Gauge>& node_gpus_used_;
  prometheus::Family<prometheus::Gauge>& node_gpus_free_;
  prometheus::Family<prometheus::Gauge>& node_state_;
  prometheus::Family<prometheus::Gauge>& node_heartbeat_age_;
  prometheus::Family<prometheus::Gauge>& operations_in_progress_;
  prometheus::Family<prometheus::Gauge>& operation_oldest_age_;
  prometheus::Gauge& last_success_;
  prometheus::Counter& errors_;
  GaugeRound instances_round_{instances_};
  GaugeRound instance_info_round_{instance_info_};
  GaugeRound instance_status_age_round_{instance_status_age_};
  GaugeRound node_gpus_round_{node_gpus_};
  GaugeRound node_gpus_used_round_{node_gpus_used_};
  GaugeRound node_gpus_free_round_{node_gpus_free_};
  GaugeRound node_state_round_{node_state_};
  GaugeRound node_heartbeat_age_round_{node_heartbeat_age_};
  GaugeRound operations_in_progress_round_{operations_in_progress_};
  GaugeRound operation_oldest_age_round_{operation_oldest_age_};
};

// Runs FleetMetrics::Collect every `period` on its own database connection.
class FleetMetricsCollector {
 public:
  FleetMetricsCollector(std::string database_url, FleetMetrics* metrics, absl::Duration period)
      : database_url_(std::move(database_url)), metrics_(metrics), period_(period) {}
  ~FleetMetricsCollector() { Stop(); }

  void Start();
  void Stop();

 private:
  void Loop();

  const std::string database_url_;
  FleetMetrics* const metrics_;
  const absl::Duration period_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dedicated::controlplane
