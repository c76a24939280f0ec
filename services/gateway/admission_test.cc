#include "services/gateway/admission.h"

#include <gtest/gtest.h>

namespace dedicated::gateway {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::vector<ReplicaSpec> Two(int64_t limit_a, int64_t limit_b) {
  return {{"ra", "127.0.0.1:1", limit_a}, {"rb", "127.0.0.1:2", limit_b}};
}

TEST(PickReplicaTest, LeastLoadedRelativeToItsLimit) {
  // 3/4 busy vs 1/2 busy: the second is less loaded.
  EXPECT_EQ(PickReplica({{3, 4, true, false}, {1, 2, true, false}}, 0), 1);
  EXPECT_EQ(PickReplica({{0, 4, true, false}, {1, 2, true, false}}, 0), 0);
}

TEST(PickReplicaTest, SkipsFullExcludedAndUnhealthy) {
  EXPECT_EQ(PickReplica({{2, 2, true, false}, {0, 2, true, true}, {5, 9, false, false}, {1, 2, true, false}}, 0), 3);
  EXPECT_EQ(PickReplica({{2, 2, true, false}}, 0), -1);
}

TEST(PickReplicaTest, UsesUnhealthyOnlyWhenNoHealthyIsLeft) {
  EXPECT_EQ(PickReplica({{0, 2, false, false}, {1, 2, true, false}}, 0), 1);
  EXPECT_EQ(PickReplica({{0, 2, false, false}, {1, 2, true, true}}, 0), 0);
}

TEST(PickReplicaTest, TiesRotate) {
  std::vector<ReplicaLoad> loads{{0, 1, true, false}, {0, 1, true, false}, {0, 1, true, false}};
  EXPECT_EQ(PickReplica(loads, 0), 0);
  EXPECT_EQ(PickReplica(loads, 1), 1);
  EXPECT_EQ(PickReplica(loads, 2), 2);
}

TEST(AdmissionTest, GrantsUpToEachReplicasLimitThenQueues) {
  Admission a(/*max_queue=*/2);
  a.SetReplicas(Two(1, 2), kNow);
  std::map<std::string, int> per_replica;
  for (int i = 0; i < 3; ++i) {
    auto r = a.Acquire({}, kNow, [](auto) { FAIL() << "not queued"; });
    ASSERT_EQ(r.outcome, Admission::Outcome::kGranted);
    ++per_replica[r.replica->id()];
  }
  EXPECT_EQ(per_replica["ra"], 1);
  EXPECT_EQ(per_replica["rb"], 2);
  EXPECT_EQ(a.in_flight(), 3);

  std::shared_ptr<Replica> granted;
  auto q1 = a.Acquire({}, kNow, [&](std::shared_ptr<Replica> r) { granted = r; });
  ASSERT_EQ(q1.outcome, Admission::Outcome::kQueued);
  auto q2 = a.Acquire({}, kNow, [](auto) {});
  ASSERT_EQ(q2.outcome, Admission::Outcome::kQueued);
  EXPECT_EQ(a.Acquire({}, kNow, [](auto) {}).outcome, Admission::Outcome::kQueueFull);
  EXPECT_EQ(a.queued(), 2);
}

TEST(AdmissionTest, ReleaseGrantsTheFirstWaiter) {
  Admission a(8);
  a.SetReplicas({{"ra", "e", 1}}, kNow);
  auto held = a.Acquire({}, kNow, [](auto) {});
  ASSERT_EQ(held.outcome, Admission::Outcome::kGranted);
  std::vector<int> order;
  a.Acquire({}, kNow, [&](std::shared_ptr<Replica> r) { order.push_back(1); ASSERT_NE(r, nullptr); });
  a.Acquire({}, kNow, [&](std::shared_ptr<Replica>) { order.push_back(2); });
  a.Release(held.replica, kNow);
  EXPECT_EQ(order, std::vector<int>{1});
  EXPECT_EQ(a.queued(), 1);
  EXPECT_EQ(a.in_flight(), 1);
}

TEST(AdmissionTest, CancelledWaiterIsNeverGranted) {
  Admission a(8);
  a.SetReplicas({{"ra", "e", 1}}, kNow);
  auto held = a.Acquire({}, kNow, [](auto) {});
  bool called = false;
  auto q = a.Acquire({}, kNow, [&](auto) { called = true; });
  EXPECT_TRUE(a.CancelWait(q.ticket));
  EXPECT_FALSE(a.CancelWait(q.ticket));
  a.Release(held.replica, kNow);
  EXPECT_FALSE(called);
  EXPECT_EQ(a.in_flight(), 0);
}

TEST(AdmissionTest, FailoverSkipsTriedReplicasAndReportsWhenNoneIsLeft) {
  Admission a(8);
  a.SetReplicas(Two(4, 4), kNow);
  auto first = a.Acquire({"ra"}, kNow, [](auto) {});
  ASSERT_EQ(first.outcome, Admission::Outcome::kGranted);
  EXPECT_EQ(first.replica->id(), "rb");
  EXPECT_EQ(a.Acquire({"ra", "rb"}, kNow, [](auto) {}).outcome, Admission::Outcome::kNoReplica);
}

TEST(AdmissionTest, UnhealthyReplicaIsSkippedUntilItsBackoffEnds) {
  Admission a(8);
  a.SetReplicas(Two(4, 4), kNow);
  auto r = a.Acquire({}, kNow, [](auto) {});
  a.Release(r.replica, kNow);
  a.MarkFailure(r.replica, kNow);
  const std::string bad = r.replica->id();
  EXPECT_FALSE(a.IsHealthy(bad, kNow));
  for (int i = 0; i < 4; ++i) {
    auto g = a.Acquire({}, kNow, [](auto) {});
    ASSERT_EQ(g.outcome, Admission::Outcome::kGranted);
    EXPECT_NE(g.replica->id(), bad);
  }
  EXPECT_TRUE(a.IsHealthy(bad, kNow + absl::Seconds(2)));
  a.MarkSuccess(r.replica);
  EXPECT_TRUE(a.IsHealthy(bad, kNow));
}

TEST(AdmissionTest, ReplicaSetChangesKeepLoadAndWakeWaiters) {
  Admission a(8);
  a.SetReplicas({{"ra", "e1", 1}}, kNow);
  auto held = a.Acquire({}, kNow, [](auto) {});
  std::shared_ptr<Replica> granted;
  a.Acquire({}, kNow, [&](std::shared_ptr<Replica> r) { granted = r; });
  // A second replica arrives: the waiter gets it; ra keeps its one request in flight.
  a.SetReplicas({{"ra", "e1", 1}, {"rb", "e2", 1}}, kNow);
  ASSERT_NE(granted, nullptr);
  EXPECT_EQ(granted->id(), "rb");
  EXPECT_EQ(a.in_flight(), 2);
  // Every replica gone: waiters learn at once that there is none.
  bool got_null = false;
  a.Acquire({}, kNow, [&](std::shared_ptr<Replica> r) { got_null = r == nullptr; });
  a.SetReplicas({}, kNow);
  EXPECT_TRUE(got_null);
  EXPECT_EQ(a.in_flight(), 0);
  a.Release(held.replica, kNow);  // a removed replica: no effect
  EXPECT_EQ(a.in_flight(), 0);
  EXPECT_EQ(a.Acquire({}, kNow, [](auto) {}).outcome, Admission::Outcome::kNoReplica);
}

}  // namespace
}  // namespace dedicated::gateway
