#include "services/controlplane/billing_meter.h"

#include <vector>

#include "services/common/log.h"
#include "services/controlplane/billing_store.h"

namespace dedicated::controlplane {

BillingMeter::BillingMeter(std::string database_url, Metrics* metrics, absl::Duration period, absl::Duration settle_lag,
                           const Clock* clock)
    : metrics_(metrics), period_(period), settle_lag_(settle_lag), db_(std::move(database_url)) {
  absl::MutexLock lock(&round_mu_);
  db_.set_clock(clock);
}

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

absl::Status BillingMeter::SettleOnce() {
  absl::MutexLock lock(&round_mu_);
  const int64_t lag = absl::ToInt64Seconds(settle_lag_);
  std::vector<MeteredSeconds> seconds;
  int64_t next_watermark = watermark_;
  absl::Status status = db_.ReadOneStatement("billing meter", [&](pqxx::nontransaction& tx, storage::DbSession& s) {
    seconds.clear();
    const int64_t settled = DbNowUnix(tx, s) - lag;
    next_watermark = watermark_ < 0 ? settled : watermark_;
    if (watermark_ >= 0 && settled > watermark_) {
      seconds = QueryMeteredSeconds(tx, s, watermark_, settled);
      next_watermark = settled;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  // The watermark moves only with the seconds it covers, so a failed round is counted by the next one.
  watermark_ = next_watermark;
  for (const MeteredSeconds& m : seconds) metrics_->AddBillableSeconds(m.folder_id, m.configuration, m.seconds);
  return absl::OkStatus();
}

void BillingMeter::Loop() {
  while (true) {
    if (absl::Status status = SettleOnce(); !status.ok()) {
      LogWarning("billing meter: query failed", {{"error", status.ToString()}});
    }
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), period_)) return;
  }
}

}  // namespace dedicated::controlplane
