#include "services/gateway/metrics.h"

#include "absl/strings/str_cat.h"

namespace dedicated::gateway {
namespace {

using prometheus::Histogram;

Histogram::BucketBoundaries LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}
Histogram::BucketBoundaries InterTokenBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1};
}
Histogram::BucketBoundaries RateBuckets() { return {1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 500}; }

}  // namespace

// The instance id's label. Not `instance`: Prometheus sets that label on every scraped series to the
// target's address, and would rename ours to `exported_instance`.
constexpr char kInstanceIdLabel[] = "instance_id";

void InstanceMetrics::CountRequest(int status) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = requests_.try_emplace(status, nullptr);
  if (inserted) it->second = &requests_family_->Add({{kInstanceIdLabel, instance_}, {"code", absl::StrCat(status)}});
  it->second->Increment();
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("gateway_requests_total")
                   .Help("Requests answered, by instance and HTTP status")
                   .Register(*registry_);
  ttft_ = &prometheus::BuildHistogram()
               .Name("gateway_time_to_first_token_seconds")
               .Help("Streaming requests: arrival until the first token event was sent to the client")
               .Register(*registry_);
  inter_token_ = &prometheus::BuildHistogram()
                      .Name("gateway_inter_token_latency_seconds")
                      .Help("Streaming requests: time between token events sent to the client")
                      .Register(*registry_);
  tokens_per_second_ = &prometheus::BuildHistogram()
                            .Name("gateway_output_tokens_per_second")
                            .Help("Output tokens per second of each request (first token to last)")
                            .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("gateway_request_duration_seconds")
                   .Help("Arrival until the last byte of the answer")
                   .Register(*registry_);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("gateway_in_flight_requests")
                    .Help("Requests holding a replica slot")
                    .Register(*registry_);
  queued_ = &prometheus::BuildGauge()
                 .Name("gateway_queued_requests")
                 .Help("Requests waiting for a replica slot (configuration concurrency limit)")
                 .Register(*registry_);
  retries_ = &prometheus::BuildCounter()
                  .Name("gateway_upstream_retries_total")
                  .Help("Requests sent again to another replica after a failure before the first byte")
                  .Register(*registry_);
  connected_ = &prometheus::BuildGauge()
                    .Name("gateway_controlplane_connected")
                    .Help("1 while the stream from the controlplane is up")
                    .Register(*registry_);
  open_connections_ = &prometheus::BuildGauge()
                           .Name("gateway_open_connections")
                           .Help("Client connections open")
                           .Register(*registry_)
                           .Add({});
}

InstanceMetrics* Metrics::ForInstance(const std::string& instance_id) {
  absl::MutexLock lock(&mu_);
  auto& slot = instances_[instance_id];
  if (slot == nullptr) {
    slot = std::make_unique<InstanceMetrics>();
    prometheus::Labels labels{{kInstanceIdLabel, instance_id}};
    slot->instance_ = instance_id;
    slot->requests_family_ = requests_;
    slot->ttft = &ttft_->Add(labels, LatencyBuckets());
    slot->inter_token = &inter_token_->Add(labels, InterTokenBuckets());
    slot->tokens_per_second = &tokens_per_second_->Add(labels, RateBuckets());
    slot->duration = &duration_->Add(labels, LatencyBuckets());
    slot->in_flight = &in_flight_->Add(labels);
    slot->queued = &queued_->Add(labels);
    slot->retries = &retries_->Add(labels);
  }
  return slot.get();
}

void Metrics::SetControlplaneConnected(const std::string& stream, bool connected) {
  connected_->Add({{"stream", stream}}).Set(connected ? 1 : 0);
}

}  // namespace dedicated::gateway
