#pragma once
// The controlplane's Prometheus metrics: one registry, families built once at start.

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

class Metrics {
 public:
  Metrics();

  // `method` is a fixed RPC name, `code` a gRPC status code name: bounded label sets.
  void RecordRpc(const std::string& method, const std::string& code, double seconds);
  void RecordOperationFinished(const std::string& kind, const std::string& result);
  void SetDbQueue(int queued, int busy);
  // Billable replica-seconds settled in the database (billing_meter.h), by folder and configuration.
  void AddBillableSeconds(const std::string& folder_id, const std::string& configuration, int64_t seconds);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& rpc_total_;
  prometheus::Family<prometheus::Histogram>& rpc_seconds_;
  prometheus::Family<prometheus::Counter>& operations_finished_;
  prometheus::Family<prometheus::Counter>& billable_seconds_;
  prometheus::Gauge& db_queue_;
  prometheus::Gauge& db_busy_;
  absl::Mutex mu_;
  // Children looked up once: Family::Add builds a label map and hashes it on every call, which showed up
  // in the per-Get CPU profile (docs/benchmarks.md).
  std::map<std::string, prometheus::Histogram*, std::less<>> histograms_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Counter*, std::less<>> counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::controlplane
