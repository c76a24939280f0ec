#include "services/controlplane/metrics.h"

namespace dedicated::controlplane {

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpc_total_(prometheus::BuildCounter()
                     .Name("dedicated_grpc_requests_total")
                     .Help("gRPC requests handled, by method and status code")
                     .Register(*registry_)),
      rpc_seconds_(prometheus::BuildHistogram()
                       .Name("dedicated_grpc_request_duration_seconds")
                       .Help("gRPC request latency, by method")
                       .Register(*registry_)),
      operations_finished_(prometheus::BuildCounter()
                               .Name("dedicated_operations_finished_total")
                               .Help("Operations that reached a terminal state, by kind and result")
                               .Register(*registry_)),
      billable_seconds_(prometheus::BuildCounter()
                            .Name("dedicated_billable_seconds_total")
                            .Help("Billable replica-seconds (instance ACTIVE, replica serving), by folder and "
                                  "configuration, counted once settled (see docs/architecture.md, Billing). Every "
                                  "controlplane replica counts the same global seconds: aggregate with max, not sum")
                            .Register(*registry_)),
      db_queue_(prometheus::BuildGauge()
                    .Name("dedicated_db_executor_queued")
                    .Help("Database tasks waiting for a connection")
                    .Register(*registry_)
                    .Add({})),
      db_busy_(prometheus::BuildGauge()
                   .Name("dedicated_db_executor_busy")
                   .Help("Database connections in use by request handlers")
                   .Register(*registry_)
                   .Add({})) {}

void Metrics::RecordRpc(const std::string& method, const std::string& code, double seconds) {
  prometheus::Histogram* h;
  prometheus::Counter* c;
  {
    absl::MutexLock lock(&mu_);
    std::string key = method + '\x1f' + code;
    auto counter = counters_.find(key);
    if (counter == counters_.end()) {
      counter = counters_.emplace(key, &rpc_total_.Add({{"method", method}, {"code", code}})).first;
    }
    c = counter->second;
    auto it = histograms_.find(method);
    if (it == histograms_.end()) {
      static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                       0.05,   0.1,   0.25,   0.5,   1,    2.5};
      it = histograms_.emplace(method, &rpc_seconds_.Add({{"method", method}}, kBuckets)).first;
    }
    h = it->second;
  }
  c->Increment();
  h->Observe(seconds);
}

void Metrics::RecordOperationFinished(const std::string& kind, const std::string& result) {
  operations_finished_.Add({{"kind", kind}, {"result", result}}).Increment();
}

void Metrics::SetDbQueue(int queued, int busy) {
  db_queue_.Set(queued);
  db_busy_.Set(busy);
}

void Metrics::AddBillableSeconds(const std::string& folder_id, const std::string& configuration, int64_t seconds) {
  if (seconds <= 0) return;
  billable_seconds_.Add({{"folder_id", folder_id}, {"configuration", configuration}})
      .Increment(static_cast<double>(seconds));
}

}  // namespace dedicated::controlplane
