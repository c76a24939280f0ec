#pragma once
// Feeds the dedicated_billable_seconds_total counter from the database, so dashboards see spend live.
//
// Every `period` it adds the billable seconds of [watermark, settled) per folder and configuration, where
// settled = now - settle_lag. The lag covers the only retroactive change billing makes: a dead node's
// intervals are cut back to its last heartbeat, up to node_timeout after the fact; seconds older than
// that are final, so the counter never counts a second that is later taken back. The count starts at the
// process's start (a counter reset to Prometheus). All controlplane replicas read the same database and
// count the same seconds: aggregate with max() (or pick one replica), never sum().

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/controlplane/metrics.h"

namespace dedicated::controlplane {

class BillingMeter {
 public:
  BillingMeter(std::string database_url, Metrics* metrics, absl::Duration period, absl::Duration settle_lag)
      : database_url_(std::move(database_url)), metrics_(metrics), period_(period), settle_lag_(settle_lag) {}
  ~BillingMeter() { Stop(); }

  void Start();
  void Stop();

 private:
  void Loop();

  const std::string database_url_;
  Metrics* const metrics_;
  const absl::Duration period_;
  const absl::Duration settle_lag_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dedicated::controlplane
