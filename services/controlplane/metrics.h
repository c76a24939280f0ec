#pragma once
// The controlplane's Prometheus metrics: one registry, families built once at start. Metrics derived
// from the database (fleet, instances, nodes) are in fleet_metrics.h, in the same registry.

#include <map>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace dedicated::controlplane {

// What the operation workers report about one operation (operation_runner.h).
struct FinishedOperation {
  std::string kind;
  std::string result;  // "ok" or a status code name
  double seconds = 0;  // created -> done
  // Set for a CreateInstance that ended ACTIVE: Create -> ACTIVE is the provisioning time.
  std::string model_id;
  std::string configuration;
};

class Metrics {
 public:
  Metrics();

  // `method` is a fixed RPC name, `code` a gRPC status code name: bounded label sets.
  void RecordRpc(const std::string& method, const std::string& code, double seconds);
  // Operations run by the workers: counted at their first step (started) and when done (finished).
  void RecordOperationStarted(const std::string& kind);
  void RecordOperationFinished(const FinishedOperation& op);
  void SetDbQueue(int queued, int busy);
  // How long a database task waited in the executor's queue for a connection.
  void ObserveDbWait(double seconds);
  // Billable replica-seconds settled in the database (billing_meter.h), by folder and configuration.
  void AddBillableSeconds(const std::string& folder_id, const std::string& configuration, int64_t seconds);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& rpc_total_;
  prometheus::Family<prometheus::Histogram>& rpc_seconds_;
  prometheus::Family<prometheus::Counter>& operations_started_;
  prometheus::Family<prometheus::Counter>& operations_finished_;
  prometheus::Family<prometheus::Histogram>& operation_seconds_;
  prometheus::Family<prometheus::Histogram>& provisioning_seconds_;
  prometheus::Family<prometheus::Counter>& billable_seconds_;
  prometheus::Gauge& db_queue_;
  prometheus::Gauge& db_busy_;
  prometheus::Histogram& db_wait_seconds_;
  absl::Mutex mu_;
  // Children looked up once: Family::Add builds a label map and hashes it on every call, which showed up
  // in the per-Get CPU profile (docs/benchmarks.md).
  std::map<std::string, prometheus::Histogram*, std::less<>> histograms_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Counter*, std::less<>> counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::controlplane
