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
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/common/clock.h"
#include "services/controlplane/metrics.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

class BillingMeter {
 public:
  // `clock`: the time of di_now() for this meter's reads (tests: the FakeClock of the transitions);
  // nullptr in production, where it is the database's time.
  BillingMeter(std::string database_url, Metrics* metrics, absl::Duration period, absl::Duration settle_lag,
               const Clock* clock = nullptr);
  ~BillingMeter() { Stop(); }

  void Start();
  void Stop();

  // One round: adds to the counter the seconds settled since the previous round (the first round only
  // sets the watermark). Start()'s thread runs it every period; tests call it directly instead.
  absl::Status SettleOnce();

 private:
  void Loop();

  Metrics* const metrics_;
  const absl::Duration period_;
  const absl::Duration settle_lag_;
  absl::Mutex round_mu_;  // one round at a time
  storage::DbSession db_ ABSL_GUARDED_BY(round_mu_);
  int64_t watermark_ ABSL_GUARDED_BY(round_mu_) = -1;  // unknown until the database answers
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dedicated::controlplane
