#include "services/controlplane/billing_meter.h"

#include "services/common/log.h"
#include "services/controlplane/billing_store.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

void BillingMeter::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void BillingMeter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void BillingMeter::Loop() {
  storage::DbSession db(database_url_);
  const int64_t lag = absl::ToInt64Seconds(settle_lag_);
  int64_t watermark = -1;  // unknown until the database answers
  while (true) {
    std::vector<MeteredSeconds> seconds;
    absl::Status status = db.ReadOneStatement("billing meter", [&](pqxx::nontransaction& tx, storage::DbSession& s) {
      seconds.clear();
      const int64_t settled = DbNowUnix(tx, s) - lag;
      if (watermark < 0) watermark = settled;
      if (settled > watermark) {
        seconds = QueryMeteredSeconds(tx, s, watermark, settled);
        watermark = settled;
      }
      return absl::OkStatus();
    });
    if (!status.ok()) LogWarning("billing meter: query failed", {{"error", status.ToString()}});
    for (const MeteredSeconds& m : seconds) metrics_->AddBillableSeconds(m.folder_id, m.configuration, m.seconds);
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), period_)) return;
  }
}

}  // namespace dedicated::controlplane
