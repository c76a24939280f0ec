#pragma once
// The gateway's Prometheus metrics: one registry, families built once at start; per-instance children
// are created the first time an instance is seen and cached, so the request path does a pointer chase
// (and a small map lookup for the status code) rather than a label-set lookup.
//
//   gateway_requests_total{instance_id, code}         answered requests
//   gateway_time_to_first_token_seconds{instance_id}  arrival -> first streamed token sent (stream: true)
//   gateway_inter_token_latency_seconds{instance_id}  between streamed tokens
//   gateway_output_tokens_per_second{instance_id}     per request, from usage or counted events
//   gateway_request_duration_seconds{instance_id}     arrival -> last byte
//   gateway_in_flight_requests{instance_id}           holding a replica slot
//   gateway_queued_requests{instance_id}              waiting for a slot
//   gateway_upstream_retries_total{instance_id}       failovers to another replica
//   gateway_controlplane_connected{stream}            1 while the stream is up
//   gateway_open_connections                          client connections

#include <map>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace dedicated::gateway {

class InstanceMetrics {
 public:
  void CountRequest(int status);

  prometheus::Histogram* ttft = nullptr;
  prometheus::Histogram* inter_token = nullptr;
  prometheus::Histogram* tokens_per_second = nullptr;
  prometheus::Histogram* duration = nullptr;
  prometheus::Gauge* in_flight = nullptr;
  prometheus::Gauge* queued = nullptr;
  prometheus::Counter* retries = nullptr;

 private:
  friend class Metrics;
  std::string instance_;
  prometheus::Family<prometheus::Counter>* requests_family_ = nullptr;
  absl::Mutex mu_;
  std::map<int, prometheus::Counter*> requests_ ABSL_GUARDED_BY(mu_);
};

class Metrics {
 public:
  Metrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // Stable for the process's life. "" is for requests that name no known instance.
  InstanceMetrics* ForInstance(const std::string& instance_id);
  void SetControlplaneConnected(const std::string& stream, bool connected);
  prometheus::Gauge& open_connections() { return *open_connections_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* ttft_;
  prometheus::Family<prometheus::Histogram>* inter_token_;
  prometheus::Family<prometheus::Histogram>* tokens_per_second_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Family<prometheus::Gauge>* queued_;
  prometheus::Family<prometheus::Counter>* retries_;
  prometheus::Family<prometheus::Gauge>* connected_;
  prometheus::Gauge* open_connections_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<InstanceMetrics>> instances_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::gateway
