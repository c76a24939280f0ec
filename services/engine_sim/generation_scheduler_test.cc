#include "services/engine_sim/generation_scheduler.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace dedicated::engine_sim {
namespace {

TEST(GenerationSchedulerTest, GrantsUpToTheLimitThenQueuesInFifoOrder) {
  GenerationScheduler scheduler(2, absl::Milliseconds(10), 0.0);
  std::vector<SlotLease> leases(4);
  std::vector<int> granted;
  for (int i = 0; i < 4; ++i) {
    scheduler.Enqueue([&, i](SlotLease lease) {
      granted.push_back(i);
      leases[i] = std::move(lease);
    });
  }
  EXPECT_EQ(granted, (std::vector<int>{0, 1}));
  EXPECT_EQ(scheduler.running(), 2);
  EXPECT_EQ(scheduler.waiting(), 2);

  leases[1].Reset();
  EXPECT_EQ(granted, (std::vector<int>{0, 1, 2}));
  leases[0].Reset();
  EXPECT_EQ(granted, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(scheduler.running(), 2);
  EXPECT_EQ(scheduler.waiting(), 0);

  leases[2].Reset();
  leases[3].Reset();
  EXPECT_EQ(scheduler.running(), 0);
}

TEST(GenerationSchedulerTest, CancelledWaiterIsSkipped) {
  GenerationScheduler scheduler(1, absl::Milliseconds(10), 0.0);
  SlotLease first;
  std::optional<SlotLease> third;
  bool second_granted = false;
  scheduler.Enqueue([&](SlotLease lease) { first = std::move(lease); });
  uint64_t second = scheduler.Enqueue([&](SlotLease) { second_granted = true; });
  scheduler.Enqueue([&](SlotLease lease) { third = std::move(lease); });

  EXPECT_TRUE(scheduler.CancelWaiting(second));
  EXPECT_FALSE(scheduler.CancelWaiting(second));  // Already gone.
  first.Reset();
  EXPECT_FALSE(second_granted);
  ASSERT_TRUE(third.has_value());
  EXPECT_TRUE(third->held());
  EXPECT_EQ(scheduler.waiting(), 0);
}

TEST(GenerationSchedulerTest, DroppedLeaseFreesItsSlot) {
  GenerationScheduler scheduler(1, absl::Milliseconds(10), 0.0);
  bool second_granted = false;
  scheduler.Enqueue([](SlotLease) {});  // Dropped at once: the slot comes back.
  scheduler.Enqueue([&](SlotLease) { second_granted = true; });
  EXPECT_TRUE(second_granted);
  EXPECT_EQ(scheduler.running(), 0);
}

TEST(GenerationSchedulerTest, InterTokenDelayGrowsWithRunningGenerations) {
  GenerationScheduler scheduler(8, absl::Milliseconds(20), 0.5);
  EXPECT_EQ(scheduler.InterTokenDelay(), absl::Milliseconds(20));  // Nothing running counts as one.
  std::vector<SlotLease> leases;
  for (int i = 0; i < 3; ++i) scheduler.Enqueue([&](SlotLease l) { leases.push_back(std::move(l)); });
  // 20ms * (1 + 0.5 * (3 - 1)) = 40ms.
  EXPECT_EQ(scheduler.InterTokenDelay(), absl::Milliseconds(40));
}

TEST(GenerationSchedulerTest, ShutdownDropsWaitersAndStopsGranting) {
  GenerationScheduler scheduler(1, absl::Milliseconds(10), 0.0);
  SlotLease first;
  bool second_granted = false;
  scheduler.Enqueue([&](SlotLease lease) { first = std::move(lease); });
  scheduler.Enqueue([&](SlotLease) { second_granted = true; });
  scheduler.Shutdown();
  EXPECT_EQ(scheduler.waiting(), 0);
  first.Reset();
  EXPECT_FALSE(second_granted);
}

}  // namespace
}  // namespace dedicated::engine_sim
