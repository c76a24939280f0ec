// Billing against the real PostgreSQL, driven step by step with a FakeClock (di_now() follows it): exact
// uptime across stop/start, provisioning excluded, node death ending at the last heartbeat, windows and
// price changes, folder isolation, and a randomized property test against an independent oracle.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "google/protobuf/field_mask.pb.h"
#include "services/controlplane/billing_api.h"
#include "services/controlplane/billing_store.h"
#include "services/controlplane/node_monitor.h"
#include "services/controlplane/testing/controlplane_fixture.h"

namespace dedicated::controlplane {
namespace {

// gemma-3-4b-it: S 402, M 804 RUB per replica-hour (catalog).
constexpr char kModel[] = "gemma-3-4b-it";
constexpr char kSkuS[] = "dedicated.gemma-3-4b-it.s";
constexpr char kSkuM[] = "dedicated.gemma-3-4b-it.m";
constexpr int64_t kNanosPerRub = 1000000000;

int64_t MinorUnits(const v1::Money& m) { return m.units() * 100 + m.nanos() / 10000000; }

class BillingTest : public testing::ControlplaneFixture {
 protected:
  BillingTest() : billing_(catalog_) { config_.drain_grace = absl::ZeroDuration(); }

  google::protobuf::Timestamp Ts(absl::Time t) {
    google::protobuf::Timestamp ts;
    ts.set_seconds(absl::ToUnixSeconds(t));
    return ts;
  }

  v1::GetUsageResponse Usage(absl::Time from, absl::Time to, const std::string& folder = "folder1") {
    v1::GetUsageRequest req;
    req.set_folder_id(folder);
    *req.mutable_start_time() = Ts(from);
    *req.mutable_end_time() = Ts(to);
    auto r = billing_.GetUsage(session_, rc_, req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::GetUsageResponse();
  }

  std::vector<v1::UsageRecord> AllRecords(absl::Time from, absl::Time to, int64_t page_size) {
    std::vector<v1::UsageRecord> out;
    v1::ListUsageRecordsRequest req;
    req.set_folder_id("folder1");
    *req.mutable_start_time() = Ts(from);
    *req.mutable_end_time() = Ts(to);
    req.set_page_size(page_size);
    for (int page = 0; page < 1000; ++page) {
      auto r = billing_.ListUsageRecords(session_, rc_, req);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) break;
      EXPECT_LE(r->usage_records_size(), page_size);
      for (const auto& rec : r->usage_records()) out.push_back(rec);
      if (r->next_page_token().empty()) break;
      req.set_page_token(r->next_page_token());
    }
    return out;
  }

  template <typename Req>
  absl::Status Try(absl::StatusOr<v1::Operation> (InstanceApi::*call)(DbSession&, const RequestContext&, const Req&),
                   const std::string& id) {
    Req req;
    req.set_instance_id(id);
    return (api_.*call)(session_, rc_, req).status();
  }
  template <typename Req>
  void Run(absl::StatusOr<v1::Operation> (InstanceApi::*call)(DbSession&, const RequestContext&, const Req&),
           const std::string& id) {
    absl::Status s = Try(call, id);
    ASSERT_TRUE(s.ok()) << s;
  }

  // Create -> (provisioning for `provisioning`) -> ACTIVE.
  std::string ActiveInstance(const std::string& node, absl::Duration provisioning, const std::string& config = "S",
                             int replicas = 1) {
    v1::Operation op = CreateInstance("inst" + std::to_string(++instances_), kModel, config, replicas);
    DriveSteps();
    clock_.Advance(provisioning);  // loading the model: free
    ActLikeAgent(node);
    v1::Operation done = DriveUntilDone(op.id());
    EXPECT_TRUE(done.has_response()) << done.error().message();
    return InstanceIdOf(op);
  }

  void Settle(const std::vector<std::string>& nodes) {
    for (int i = 0; i < 4; ++i) {
      DriveSteps();
      for (const auto& n : nodes) ActLikeAgent(n);
    }
    DriveSteps();
  }

  int64_t OverlappingIntervals() {
    return Scalar(
        "SELECT count(*) FROM billable_intervals a JOIN billable_intervals b ON a.replica_id = b.replica_id "
        "AND a.id < b.id AND tstzrange(a.started_at, a.ended_at) && tstzrange(b.started_at, b.ended_at)");
  }

  BillingApi billing_;
  int instances_ = 0;
};

TEST_F(BillingTest, ExactUptimeAcrossStopAndStartExcludesProvisioning) {
  const absl::Time t0 = clock_.Now();
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, absl::Seconds(137));
  clock_.Advance(absl::Seconds(3600));
  Run(&InstanceApi::Stop, id);
  Settle({node});
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::STOPPED);
  clock_.Advance(absl::Seconds(5000));  // stopped: free
  Run(&InstanceApi::Start, id);
  DriveSteps();
  clock_.Advance(absl::Seconds(95));  // provisioning again: free
  Settle({node});
  EXPECT_EQ(GetInstance(id).status(), v1::Instance::ACTIVE);
  clock_.Advance(absl::Seconds(1800));
  Run(&InstanceApi::Delete, id);
  Settle({node});
  clock_.Advance(absl::Seconds(777));

  v1::GetUsageResponse usage = Usage(t0 - absl::Hours(1), clock_.Now() + absl::Hours(1));
  ASSERT_EQ(usage.items_size(), 1);
  EXPECT_EQ(usage.items(0).instance_id(), id);
  EXPECT_EQ(usage.items(0).sku_id(), kSkuS);
  EXPECT_EQ(usage.items(0).model_id(), kModel);
  EXPECT_EQ(usage.items(0).configuration(), "S");
  EXPECT_EQ(usage.items(0).billable_seconds(), 5400);
  // 5400 s x 402 RUB/h = 603.00 RUB.
  EXPECT_EQ(usage.items(0).cost().currency_code(), "RUB");
  EXPECT_EQ(usage.items(0).cost().units(), 603);
  EXPECT_EQ(usage.items(0).cost().nanos(), 0);
  EXPECT_EQ(usage.total_billable_seconds(), 5400);
  EXPECT_EQ(MinorUnits(usage.total_cost()), 60300);
  EXPECT_EQ(Scalar("SELECT count(*) FROM billable_intervals"), 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM billable_intervals WHERE ended_at IS NULL"), 0);

  // The hourly records add up to the same seconds.
  int64_t seconds = 0;
  for (const auto& rec : AllRecords(t0 - absl::Hours(1), clock_.Now(), 2)) seconds += rec.billable_seconds();
  EXPECT_EQ(seconds, 5400);
}

TEST_F(BillingTest, WindowClipsIntervalsAndOpenIntervalsEndNow) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, absl::Seconds(10));
  const absl::Time active = clock_.Now();
  clock_.Advance(absl::Seconds(7200));
  // [active+1000, active+4000): cut out of the middle of a running interval.
  v1::GetUsageResponse mid = Usage(active + absl::Seconds(1000), active + absl::Seconds(4000));
  ASSERT_EQ(mid.items_size(), 1);
  EXPECT_EQ(mid.items(0).billable_seconds(), 3000);
  // Fractions of a second in the bounds are dropped; the future is not usage yet.
  v1::GetUsageRequest req;
  req.set_folder_id("folder1");
  *req.mutable_start_time() = Ts(active - absl::Hours(1));
  req.mutable_start_time()->set_nanos(999999999);
  *req.mutable_end_time() = Ts(active + absl::Hours(100));
  auto all = billing_.GetUsage(session_, rc_, req);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->items(0).billable_seconds(), 7200);
  // A 1 s window prices 402/3600 RUB = 0.11166.. -> 0.11 (half up to the kopeck).
  v1::GetUsageResponse one = Usage(active + absl::Seconds(5), active + absl::Seconds(6));
  EXPECT_EQ(MinorUnits(one.items(0).cost()), 11);
  (void)id;
}

TEST_F(BillingTest, PriceChangeInsideTheWindowSplitsTheCost) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, absl::Seconds(10));
  const absl::Time active = clock_.Now();
  {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    // From active+1800 s the S price doubles to 804 RUB/h.
    tx.exec_params("INSERT INTO sku_prices VALUES ($1, to_timestamp($2::bigint), 'RUB', $3)", kSkuS,
                   absl::ToUnixSeconds(active) + 1800, 804 * kNanosPerRub);
    tx.commit();
  }
  clock_.Advance(absl::Seconds(3600));
  v1::GetUsageResponse usage = Usage(active, active + absl::Seconds(3600));
  ASSERT_EQ(usage.items_size(), 1);
  EXPECT_EQ(usage.items(0).billable_seconds(), 3600);
  // 1800 s at 402 + 1800 s at 804 = 201 + 402 = 603 RUB.
  EXPECT_EQ(MinorUnits(usage.items(0).cost()), 60300);
  // The hour records split the same way.
  auto records = AllRecords(active, active + absl::Seconds(3600), 100);
  int64_t minor = 0;
  for (const auto& r : records) minor += MinorUnits(r.cost());
  EXPECT_EQ(minor, 60300);
  (void)id;
}

TEST_F(BillingTest, SeedRefusesAnEditedPriceThatWasAlreadyBilled) {
  {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    tx.exec_params("UPDATE sku_prices SET price_per_hour_nanos = 1 WHERE sku_id = $1", kSkuS);
    tx.commit();
  }
  absl::Status s = session_.InTransaction(
      "seed", [this](pqxx::work& tx, storage::DbSession& db) { return SeedSkuPrices(tx, db, *catalog_); });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST_F(BillingTest, AnotherFoldersInstanceNeverAppears) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, absl::Seconds(10));
  v1::CreateInstanceRequest req;
  req.set_folder_id("folder2");
  req.set_name("other");
  req.set_model_id(kModel);
  req.set_configuration("M");
  req.set_replica_count(1);
  auto op = api_.Create(session_, rc_, req);
  ASSERT_TRUE(op.ok()) << op.status();
  Settle({node});
  clock_.Advance(absl::Seconds(100));
  v1::GetUsageResponse f1 = Usage(clock_.Now() - absl::Hours(1), clock_.Now());
  ASSERT_EQ(f1.items_size(), 1);
  EXPECT_EQ(f1.items(0).instance_id(), id);
  v1::GetUsageResponse f2 = Usage(clock_.Now() - absl::Hours(1), clock_.Now(), "folder2");
  ASSERT_EQ(f2.items_size(), 1);
  EXPECT_EQ(f2.items(0).sku_id(), kSkuM);
  EXPECT_EQ(f2.items(0).billable_seconds(), 100);
  EXPECT_EQ(Usage(clock_.Now() - absl::Hours(1), clock_.Now(), "folder-none").items_size(), 0);
}

TEST_F(BillingTest, NodeDeathEndsBillingAtTheLastHeartbeat) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, absl::Seconds(10));
  const absl::Time active = clock_.Now();
  clock_.Advance(absl::Seconds(600));
  ActLikeAgent(node);                 // the last heartbeat
  clock_.Advance(absl::Seconds(40));  // silence, longer than node_timeout (15 s)
  std::vector<std::string> down, affected;
  ASSERT_TRUE(MarkSilentNodesDownOnce(session_, config_, &down, &affected).ok());
  ASSERT_EQ(down.size(), 1u);
  clock_.Advance(absl::Seconds(300));
  v1::GetUsageResponse usage = Usage(active - absl::Hours(1), clock_.Now());
  ASSERT_EQ(usage.items_size(), 1);
  EXPECT_EQ(usage.items(0).billable_seconds(), 600);
  (void)id;
}

TEST_F(BillingTest, NodeBackFromDownBillsAgainFromItsFirstHeartbeat) {
  // Two replicas on two nodes: when one node goes DOWN the instance stays ACTIVE on the other.
  std::string n1 = RegisterNode("node-1", 8), n2 = RegisterNode("node-2", 8);
  v1::Operation op = CreateInstance("spread", kModel, "S", 2);
  DriveSteps();
  ActLikeAgent(n1);
  ActLikeAgent(n2);
  ASSERT_TRUE(DriveUntilDone(op.id()).has_response());
  const absl::Time active = clock_.Now();
  clock_.Advance(absl::Seconds(600));
  ActLikeAgent(n1);
  ActLikeAgent(n2);                   // node-2's last heartbeat before its silence
  clock_.Advance(absl::Seconds(40));  // longer than node_timeout (15 s)
  ActLikeAgent(n1);
  std::vector<std::string> down, affected;
  ASSERT_TRUE(MarkSilentNodesDownOnce(session_, config_, &down, &affected).ok());
  ASSERT_EQ(down, std::vector<std::string>{n2});
  ASSERT_EQ(GetInstance(InstanceIdOf(op)).status(), v1::Instance::ACTIVE);
  clock_.Advance(absl::Seconds(60));
  ActLikeAgent(n2);  // back, its replica still READY; no operation step runs in between
  EXPECT_EQ(Scalar("SELECT count(*) FROM nodes WHERE state = 'READY'"), 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM billable_intervals WHERE ended_at IS NULL"), 2)
      << "the heartbeat that brings node-2 back opens its replica's interval";
  clock_.Advance(absl::Seconds(120));
  v1::GetUsageResponse usage = Usage(active - absl::Hours(1), clock_.Now());
  ASSERT_EQ(usage.items_size(), 1);
  // node-1's replica: 600 + 40 + 60 + 120; node-2's: 600 (to its last heartbeat) + 120 (from its return).
  EXPECT_EQ(usage.items(0).billable_seconds(), 820 + 720);
  EXPECT_EQ(OverlappingIntervals(), 0);
}

TEST_F(BillingTest, RollingUpdateBillsEachReplicaByItsOwnConfiguration) {
  std::string node = RegisterNode("node-1", 8);
  std::string id = ActiveInstance(node, absl::Seconds(10));
  const absl::Time active = clock_.Now();
  clock_.Advance(absl::Seconds(1000));
  v1::UpdateInstanceRequest req;
  req.set_instance_id(id);
  req.mutable_update_mask()->add_paths("configuration");
  req.set_configuration("M");
  ASSERT_TRUE(api_.Update(session_, rc_, req).ok());
  DriveSteps(1);       // new M replica placed
  ActLikeAgent(node);  // ... and READY: S and M both serve
  clock_.Advance(absl::Seconds(50));
  Settle({node});  // S retired (no drain grace here)
  clock_.Advance(absl::Seconds(500));
  v1::GetUsageResponse usage = Usage(active, clock_.Now());
  std::map<std::string, int64_t> by_sku;
  for (const auto& item : usage.items()) by_sku[item.sku_id()] = item.billable_seconds();
  EXPECT_EQ(by_sku[kSkuS], 1050);
  EXPECT_EQ(by_sku[kSkuM], 550);
}

TEST(BillingRounding, HalfUpToTheKopeckOncePerLine) {
  // seconds x nanos-per-hour; 1 kopeck = 1e7 nanos; /3600.
  EXPECT_EQ(CostMinorUnits(0), 0);
  EXPECT_EQ(CostMinorUnits(static_cast<__int128>(5400) * 402 * kNanosPerRub), 60300);
  EXPECT_EQ(CostMinorUnits(static_cast<__int128>(1) * 402 * kNanosPerRub), 11);  // 11.1666..
  EXPECT_EQ(CostMinorUnits(static_cast<__int128>(18000000000) - 1), 0);          // 0.4999.. kopeck (x 1e7 x 3600)
  EXPECT_EQ(CostMinorUnits(static_cast<__int128>(18000000000)), 1);              // 0.5 kopeck -> up
  // No overflow for a year of 64 replicas at the largest catalog price.
  __int128 big = static_cast<__int128>(365LL * 24 * 3600 * 64) * 2412 * kNanosPerRub;
  EXPECT_EQ(CostMinorUnits(big), 365LL * 24 * 64 * 2412 * 100);
  EXPECT_EQ(MinorUnits(MoneyFromMinorUnits("RUB", 60311)), 60311);
  EXPECT_EQ(MoneyFromMinorUnits("RUB", 60311).nanos(), 110000000);
}

// Random lifecycles with random durations. The oracle samples, before every clock advance, which
// replicas serve (instance ACTIVE, replica READY and meant to run, on a node the test keeps alive) and
// adds the advance to them; a killed node's replicas stop counting at once (its last heartbeat).
class BillingPropertyTest : public BillingTest, public ::testing::WithParamInterface<int> {
 protected:
  struct Expected {
    int64_t seconds = 0;
    __int128 numerator = 0;
  };

  void AdvanceAndBill(absl::Duration d) {
    std::string killed = "'-'";
    for (const auto& n : dead_) killed += ",'" + n + "'";
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    pqxx::result serving = tx.exec(
        "SELECT i.id, k.id, p.price_per_hour_nanos FROM replicas r JOIN instances i ON i.id = r.instance_id "
        "JOIN skus k ON k.model_id = i.model_id AND k.configuration = r.configuration "
        "JOIN sku_prices p ON p.sku_id = k.id "
        "WHERE i.status = 'ACTIVE' AND r.state = 'READY' AND r.desired_state = 'RUNNING' AND r.node_id NOT IN (" +
        killed + ")");
    tx.commit();
    const int64_t secs = absl::ToInt64Seconds(d);
    for (const auto& r : serving) {
      Expected& e = expected_[{r[0].as<std::string>(), r[1].as<std::string>()}];
      e.seconds += secs;
      e.numerator += static_cast<__int128>(secs) * r[2].as<int64_t>();
    }
    clock_.Advance(d);
    for (const auto& n : alive_) ActLikeAgent(n);  // heartbeats
    std::vector<std::string> down, affected;
    ASSERT_TRUE(MarkSilentNodesDownOnce(session_, config_, &down, &affected).ok());
    Settle(alive_);
  }

  std::vector<std::string> Live(const std::string& status) {
    std::vector<std::string> out;
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    for (const auto& r : tx.exec("SELECT id FROM instances WHERE status = '" + status + "' ORDER BY id")) {
      out.push_back(r[0].as<std::string>());
    }
    return out;
  }

  std::vector<std::string> alive_;
  std::set<std::string> dead_;
  std::map<std::pair<std::string, std::string>, Expected> expected_;
};

TEST_P(BillingPropertyTest, UsageEqualsTheServingTimeOfAnIndependentOracle) {
  std::mt19937 rng(GetParam());
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const absl::Time t0 = clock_.Now();
  for (int i = 0; i < 3; ++i) alive_.push_back(RegisterNode("node-" + std::to_string(i), 8));
  int nodes = 3;
  for (int step = 0; step < 20; ++step) {
    std::vector<std::string> active = Live("ACTIVE"), stopped = Live("STOPPED");
    switch (pick(7)) {
      case 0:
        if (Live("ACTIVE").size() + stopped.size() < 4) {
          CreateInstance("p" + std::to_string(step), kModel, pick(2) == 0 ? "S" : "M", 1 + pick(2));
        }
        break;
      case 1:
        if (!active.empty()) (void)Try(&InstanceApi::Stop, active[pick(static_cast<int>(active.size()))]);
        break;
      case 2:
        if (!stopped.empty()) (void)Try(&InstanceApi::Start, stopped[pick(static_cast<int>(stopped.size()))]);
        break;
      case 3:
        if (!active.empty()) {
          v1::UpdateInstanceRequest req;
          req.set_instance_id(active[pick(static_cast<int>(active.size()))]);
          req.mutable_update_mask()->add_paths("configuration");
          req.set_configuration(pick(2) == 0 ? "S" : "M");
          (void)api_.Update(session_, rc_, req);  // may be refused (same configuration): fine
        }
        break;
      case 4: {
        std::vector<std::string> all = active;
        all.insert(all.end(), stopped.begin(), stopped.end());
        if (!all.empty()) (void)Try(&InstanceApi::Delete, all[pick(static_cast<int>(all.size()))]);
        break;
      }
      case 5:
        if (alive_.size() > 1) {  // a node dies; a fresh one joins
          int victim = pick(static_cast<int>(alive_.size()));
          dead_.insert(alive_[victim]);
          alive_.erase(alive_.begin() + victim);
          alive_.push_back(RegisterNode("node-" + std::to_string(nodes++), 8));
        }
        break;
      default:
        break;
    }
    DriveSteps();
    AdvanceAndBill(absl::Seconds(1 + pick(pick(2) == 0 ? 30 : 4000)));
  }
  AdvanceAndBill(absl::Seconds(60));  // every dead node is noticed

  v1::GetUsageResponse usage = Usage(t0, clock_.Now() + absl::Hours(1));
  std::map<std::pair<std::string, std::string>, Expected> got;
  int64_t total_minor = 0;
  for (const auto& item : usage.items()) {
    got[{item.instance_id(), item.sku_id()}].seconds = item.billable_seconds();
    total_minor += MinorUnits(item.cost());
    const Expected& e = expected_[{item.instance_id(), item.sku_id()}];
    EXPECT_EQ(item.billable_seconds(), e.seconds) << item.instance_id() << " " << item.sku_id();
    EXPECT_EQ(MinorUnits(item.cost()), CostMinorUnits(e.numerator)) << "cost = seconds x price";
  }
  for (const auto& [key, e] : expected_) {
    if (e.seconds > 0) EXPECT_TRUE(got.contains(key)) << key.first << " " << key.second << " billed nothing";
  }
  EXPECT_EQ(MinorUnits(usage.total_cost()), total_minor);
  EXPECT_EQ(OverlappingIntervals(), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM billable_intervals b JOIN nodes n ON n.id = b.node_id "
                   "WHERE b.ended_at IS NULL AND n.state = 'DOWN'"),
            0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, BillingPropertyTest, ::testing::Range(1, 5));

}  // namespace
}  // namespace dedicated::controlplane
