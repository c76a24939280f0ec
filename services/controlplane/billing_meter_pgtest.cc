// The billable-seconds meter (billing_meter.h) against the real PostgreSQL, with the FakeClock that drives
// the transitions: the counter advances by exactly the settled billable seconds, never counts a second
// twice across rounds, counts every global second once per controlplane (so max() across replicas is the
// truth and sum() is not), and never counts seconds that node death takes back.
#include <gtest/gtest.h>

#include <memory>

#include "services/controlplane/billing_api.h"
#include "services/controlplane/billing_meter.h"
#include "services/controlplane/node_monitor.h"
#include "services/controlplane/testing/controlplane_fixture.h"

namespace dedicated::controlplane {
namespace {

constexpr char kFamily[] = "dedicated_billable_seconds_total";

// The counter of (folder, configuration); 0 when the series does not exist yet.
double Counted(Metrics& metrics, const std::string& folder, const std::string& configuration) {
  for (const auto& family : metrics.registry()->Collect()) {
    if (family.name != kFamily) continue;
    for (const auto& metric : family.metric) {
      bool folder_matches = false, configuration_matches = false;
      for (const auto& label : metric.label) {
        folder_matches = folder_matches || (label.name == "folder_id" && label.value == folder);
        configuration_matches =
            configuration_matches || (label.name == "configuration" && label.value == configuration);
      }
      if (folder_matches && configuration_matches) return metric.counter.value;
    }
  }
  return 0;
}

class BillingMeterTest : public testing::ControlplaneFixture {
 protected:
  BillingMeterTest() : billing_(catalog_) { config_.drain_grace = absl::ZeroDuration(); }

  // A meter reading di_now() from the test's FakeClock; rounds are run by the test (SettleOnce), not by
  // its thread.
  std::unique_ptr<BillingMeter> Meter(Metrics* metrics, absl::Duration settle_lag) {
    return std::make_unique<BillingMeter>(db_.dsn(), metrics, absl::Hours(1), settle_lag, &clock_);
  }

  std::string ActiveInstance(const std::string& node, const std::string& config,
                             const std::string& folder = "folder1") {
    v1::CreateInstanceRequest req;
    req.set_folder_id(folder);
    req.set_name("m" + std::to_string(++instances_));
    req.set_model_id("gemma-3-4b-it");
    req.set_configuration(config);
    req.set_replica_count(1);
    auto op = api_.Create(session_, rc_, req);
    EXPECT_TRUE(op.ok()) << op.status();
    DriveSteps();
    clock_.Advance(absl::Seconds(30));  // provisioning: free, and not metered
    ActLikeAgent(node);
    v1::Operation done = DriveUntilDone(op->id());
    EXPECT_TRUE(done.has_response()) << done.error().message();
    return InstanceIdOf(*op);
  }

  void Settle(const std::string& node) {
    for (int i = 0; i < 4; ++i) {
      DriveSteps();
      ActLikeAgent(node);
    }
  }

  int64_t UsageSeconds(const std::string& folder) {
    v1::GetUsageRequest req;
    req.set_folder_id(folder);
    req.mutable_start_time()->set_seconds(absl::ToUnixSeconds(clock_.Now() - absl::Hours(100)));
    req.mutable_end_time()->set_seconds(absl::ToUnixSeconds(clock_.Now() + absl::Hours(1)));
    auto r = billing_.GetUsage(session_, rc_, req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->total_billable_seconds() : -1;
  }

  BillingApi billing_;
  int instances_ = 0;
};

TEST_F(BillingMeterTest, AdvancesByExactlyTheSettledSecondsAndNeverTwice) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, "S");
  Metrics metrics;
  auto meter = Meter(&metrics, absl::Seconds(60));
  ASSERT_TRUE(meter->SettleOnce().ok());  // the watermark: now - 60 s
  EXPECT_EQ(Counted(metrics, "folder1", "S"), 0);

  clock_.Advance(absl::Seconds(1000));
  ASSERT_TRUE(meter->SettleOnce().ok());
  EXPECT_EQ(Counted(metrics, "folder1", "S"), 940) << "1000 s billed, the last 60 s not settled yet";
  ASSERT_TRUE(meter->SettleOnce().ok());
  EXPECT_EQ(Counted(metrics, "folder1", "S"), 940) << "a second round at the same time adds nothing";

  v1::StopInstanceRequest stop;
  stop.set_instance_id(id);
  ASSERT_TRUE(api_.Stop(session_, rc_, stop).ok());
  Settle(node);
  ASSERT_EQ(GetInstance(id).status(), v1::Instance::STOPPED);
  clock_.Advance(absl::Seconds(500));  // stopped: free
  ASSERT_TRUE(meter->SettleOnce().ok());
  EXPECT_EQ(Counted(metrics, "folder1", "S"), 1000);
  EXPECT_EQ(UsageSeconds("folder1"), 1000) << "the meter and GetUsage agree";
  EXPECT_EQ(Counted(metrics, "folder1", "M"), 0);
}

TEST_F(BillingMeterTest, LabelsSeparateFoldersAndConfigurations) {
  std::string node = RegisterNode("node-1", 8);
  Metrics metrics;
  auto meter = Meter(&metrics, absl::Seconds(0));
  ActiveInstance(node, "S", "folder1");
  ASSERT_TRUE(meter->SettleOnce().ok());
  clock_.Advance(absl::Seconds(100));
  ActiveInstance(node, "M", "folder2");  // 30 s of its provisioning pass on the clock
  clock_.Advance(absl::Seconds(70));
  ASSERT_TRUE(meter->SettleOnce().ok());
  EXPECT_EQ(Counted(metrics, "folder1", "S"), 200);
  EXPECT_EQ(Counted(metrics, "folder2", "M"), 70);
  EXPECT_EQ(Counted(metrics, "folder1", "M") + Counted(metrics, "folder2", "S"), 0);
}

TEST_F(BillingMeterTest, EveryControlplaneCountsEachGlobalSecondOnceSoMaxIsTheTruth) {
  std::string node = RegisterNode("node-1", 8);
  ActiveInstance(node, "S");
  Metrics first, second, late;
  auto meter1 = Meter(&first, absl::Seconds(60));
  auto meter2 = Meter(&second, absl::Seconds(60));
  ASSERT_TRUE(meter1->SettleOnce().ok());
  ASSERT_TRUE(meter2->SettleOnce().ok());
  clock_.Advance(absl::Seconds(700));
  auto meter3 = Meter(&late, absl::Seconds(60));  // a controlplane that starts later
  ASSERT_TRUE(meter3->SettleOnce().ok());
  for (int round = 0; round < 3; ++round) {
    clock_.Advance(absl::Seconds(100));
    ASSERT_TRUE(meter1->SettleOnce().ok());
    ASSERT_TRUE(meter2->SettleOnce().ok());
    ASSERT_TRUE(meter3->SettleOnce().ok());
  }
  // 1000 s billed, 940 settled: each replica's counter holds all of them (not a share), so
  // max(first, second) = 940 is the truth and first + second = 1880 would bill twice.
  EXPECT_EQ(Counted(first, "folder1", "S"), 940);
  EXPECT_EQ(Counted(second, "folder1", "S"), 940);
  // The late one counts from its own start (a counter reset for Prometheus): rate() still agrees.
  EXPECT_EQ(Counted(late, "folder1", "S"), 300);
}

TEST_F(BillingMeterTest, SecondsThatNodeDeathTakesBackAreNeverCounted) {
  std::string node = RegisterNode("node-1", 8);
  ActiveInstance(node, "S");
  Metrics settled_metrics, unsettled_metrics;
  // As controlplane.cc configures it: node_timeout + 30 s.
  auto meter = Meter(&settled_metrics, config_.node_timeout + absl::Seconds(30));
  auto no_lag = Meter(&unsettled_metrics, absl::ZeroDuration());
  ASSERT_TRUE(meter->SettleOnce().ok());
  ASSERT_TRUE(no_lag->SettleOnce().ok());
  clock_.Advance(absl::Seconds(600));
  ActLikeAgent(node);            // the last good heartbeat
  for (int i = 0; i < 4; ++i) {  // 40 s of silence, metered every 10 s
    clock_.Advance(absl::Seconds(10));
    ASSERT_TRUE(meter->SettleOnce().ok());
    ASSERT_TRUE(no_lag->SettleOnce().ok());
  }
  std::vector<std::string> down, affected;
  ASSERT_TRUE(MarkSilentNodesDownOnce(session_, config_, &down, &affected).ok());
  ASSERT_EQ(down.size(), 1u);
  clock_.Advance(absl::Seconds(300));
  ASSERT_TRUE(meter->SettleOnce().ok());
  ASSERT_TRUE(no_lag->SettleOnce().ok());
  EXPECT_EQ(UsageSeconds("folder1"), 600) << "billing ends at the last heartbeat";
  EXPECT_EQ(Counted(settled_metrics, "folder1", "S"), 600);
  // Without the lag the 40 s of silence were counted before they were taken back: why the lag exists.
  EXPECT_EQ(Counted(unsettled_metrics, "folder1", "S"), 640);
}

}  // namespace
}  // namespace dedicated::controlplane
