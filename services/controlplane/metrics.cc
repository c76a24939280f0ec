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
      operations_started_(prometheus::BuildCounter()
                              .Name("dedicated_operations_started_total")
                              .Help("Operations whose first step a worker of this process ran, by kind")
                              .Register(*registry_)),
      operations_finished_(prometheus::BuildCounter()
                               .Name("dedicated_operations_finished_total")
                               .Help("Operations that reached a terminal state, by kind and result")
                               .Register(*registry_)),
      operation_seconds_(prometheus::BuildHistogram()
                             .Name("dedicated_operation_duration_seconds")
                             .Help("Operations from creation to done, by kind and result")
                             .Register(*registry_)),
      provisioning_seconds_(prometheus::BuildHistogram()
                                .Name("dedicated_instance_provisioning_duration_seconds")
                                .Help("CreateInstance until the instance is ACTIVE, by model and configuration")
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
                   .Add({})),
      db_wait_seconds_(prometheus::BuildHistogram()
                           .Name("dedicated_db_executor_wait_seconds")
                           .Help("Time a database task of a request waited in the queue for a connection")
                           .Register(*registry_)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                                            0.1, 0.5, 1, 5})) {}

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

namespace {
// Operations take from milliseconds (an Update) to many minutes (a large model's weights loading).
const prometheus::Histogram::BucketBoundaries& OperationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.1, 0.5, 1,   2.5, 5,    10,   30,  60,
                                                                   120, 300, 600, 900, 1200, 1800, 3600};
  return kBuckets;
}
}  // namespace

// Operations finish a few times a second at most: Family::Add's lookup is cheap enough here.
void Metrics::RecordOperationStarted(const std::string& kind) { operations_started_.Add({{"kind", kind}}).Increment(); }

void Metrics::RecordOperationFinished(const FinishedOperation& op) {
  operations_finished_.Add({{"kind", op.kind}, {"result", op.result}}).Increment();
  operation_seconds_.Add({{"kind", op.kind}, {"result", op.result}}, OperationBuckets()).Observe(op.seconds);
  if (!op.model_id.empty()) {
    provisioning_seconds_.Add({{"model", op.model_id}, {"configuration", op.configuration}}, OperationBuckets())
        .Observe(op.seconds);
  }
}

void Metrics::ObserveDbWait(double seconds) { db_wait_seconds_.Observe(seconds); }

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
