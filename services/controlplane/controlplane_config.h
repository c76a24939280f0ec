#pragma once

#include <string>

#include "absl/time/time.h"

namespace dedicated::controlplane {

// Tunables of one controlplane process (flags of `controlplane serve`, see main.cc).
struct ControlplaneConfig {
  std::string database_url;
  std::string listen_address = "127.0.0.1:50051";
  std::string metrics_address = "127.0.0.1:9464";  // empty: no metrics endpoint
  int db_threads = 8;
  int db_queue = 4096;
  // InstanceService.Get batches in flight at once (get_batcher.h), at most db_threads. Fewer means larger
  // batches: fewer round trips and thread hand-offs per Get under load, at the price of some queueing.
  // 2: one batch is read while the other's calls are finished (docs/benchmarks.md, issue 2: +35% Get
  // RPS over 1 on the 2-core bench machine; 4 was no better than 1).
  int get_batches = 2;
  // Operation workers and how they hold work.
  int workers = 2;
  absl::Duration operation_lease = absl::Seconds(10);
  absl::Duration worker_poll = absl::Milliseconds(200);
  // Create/Start fail with DEADLINE_EXCEEDED when engines are not ready in time.
  absl::Duration provision_timeout = absl::Minutes(15);
  // A replica that does not confirm its stop within this time is released anyway.
  absl::Duration stop_timeout = absl::Minutes(2);
  // A replica leaving in a rolling update is first DRAINING this long: routers stop sending it requests
  // and its engine finishes those in flight, then it is stopped.
  absl::Duration drain_grace = absl::Seconds(2);
  absl::Duration heartbeat_interval = absl::Seconds(2);
  // No heartbeat for this long -> node DOWN.
  absl::Duration node_timeout = absl::Seconds(15);
  absl::Duration assignment_poll = absl::Milliseconds(500);
  // How often the IAM snapshot checks for changes made through other controlplane replicas (this one's
  // own changes apply at once). Revocations reach gateways within about this much.
  absl::Duration iam_poll = absl::Milliseconds(200);
  // How often gateways' routing table checks for changes (route_cache.h): a replica that became READY,
  // failed or started draining reaches gateways within about this much.
  absl::Duration route_poll = absl::Milliseconds(200);
  absl::Duration shutdown_grace = absl::Seconds(5);
  // How often the fleet gauges (fleet_metrics.h) are read from the database; zero disables them. They
  // run only with a metrics endpoint.
  absl::Duration fleet_metrics_interval = absl::Seconds(5);
  // How often dedicated_billable_seconds_total takes in newly settled seconds (billing_meter.h).
  absl::Duration billing_meter_period = absl::Seconds(15);
};

}  // namespace dedicated::controlplane
