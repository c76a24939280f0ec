#include "services/controlplane/usage_window.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>

namespace dedicated::controlplane {
namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kDay0 = 1795910400;  // 2026-11-29 00:00:00 UTC

bool IsBucketSize(int64_t s) {
  for (int64_t size : kRollupBucketSeconds) {
    if (s == size) return true;
  }
  return false;
}

// Sweeps the plan's ranges: every second of [start, end) must be counted exactly once and nothing else;
// rollup ranges are whole buckets of a known size.
void ExpectExactCover(int64_t start, int64_t end) {
  UsageWindowPlan plan = PlanUsageWindow(start, end);
  std::map<int64_t, int> delta;
  for (const SignedRange& r : plan.raw) {
    EXPECT_EQ(r.bucket_seconds, 0);
    EXPECT_EQ(r.sign, 1);
    EXPECT_LT(r.from, r.to);
    EXPECT_LT(r.to - r.from, 2 * kHour) << "raw reads only what no whole hour covers";
    delta[r.from] += 1;
    delta[r.to] -= 1;
  }
  for (const SignedRange& r : plan.rollup) {
    ASSERT_TRUE(IsBucketSize(r.bucket_seconds)) << r.bucket_seconds;
    EXPECT_LT(r.from, r.to);
    EXPECT_EQ((r.from % r.bucket_seconds + r.bucket_seconds) % r.bucket_seconds, 0) << r.from;
    EXPECT_EQ((r.to % r.bucket_seconds + r.bucket_seconds) % r.bucket_seconds, 0) << r.to;
    EXPECT_TRUE(r.sign == 1 || r.sign == -1);
    delta[r.from] += r.sign;
    delta[r.to] -= r.sign;
  }
  int cover = 0;
  int64_t at = std::numeric_limits<int64_t>::min();
  for (const auto& [t, d] : delta) {
    if (at != std::numeric_limits<int64_t>::min() && at < t) {
      const bool inside = at >= start && t <= end;
      const bool outside = t <= start || at >= end;
      ASSERT_TRUE(inside || outside) << "coverage changes inside [" << at << ", " << t << ")";
      EXPECT_EQ(cover, inside ? 1 : 0) << "[" << at << ", " << t << ") of [" << start << ", " << end << ")";
    }
    cover += d;
    at = t;
  }
  EXPECT_EQ(cover, 0);
}

TEST(PlanUsageWindow, EmptyOrInvertedWindowPlansNothing) {
  for (auto [s, e] : {std::pair<int64_t, int64_t>{kDay0, kDay0}, {kDay0 + 5, kDay0}}) {
    UsageWindowPlan plan = PlanUsageWindow(s, e);
    EXPECT_TRUE(plan.raw.empty() && plan.rollup.empty());
  }
}

TEST(PlanUsageWindow, WindowWithoutAWholeHourIsAllRaw) {
  UsageWindowPlan plan = PlanUsageWindow(kDay0 + 100, kDay0 + 3000);
  ASSERT_EQ(plan.raw.size(), 1u);
  EXPECT_EQ(plan.raw[0], (SignedRange{0, kDay0 + 100, kDay0 + 3000, 1}));
  EXPECT_TRUE(plan.rollup.empty());
}

TEST(PlanUsageWindow, PartialHoursAtTheEdgesAreRaw) {
  UsageWindowPlan plan = PlanUsageWindow(kDay0 + 100, kDay0 + 2 * kHour + 5);
  ASSERT_EQ(plan.raw.size(), 2u);
  EXPECT_EQ(plan.raw[0], (SignedRange{0, kDay0 + 100, kDay0 + kHour, 1}));
  EXPECT_EQ(plan.raw[1], (SignedRange{0, kDay0 + 2 * kHour, kDay0 + 2 * kHour + 5, 1}));
  ASSERT_EQ(plan.rollup.size(), 1u);
  EXPECT_EQ(plan.rollup[0], (SignedRange{kHour, kDay0 + kHour, kDay0 + 2 * kHour, 1}));
}

TEST(PlanUsageWindow, TwentyThreeHoursAreTheDayMinusOneHour) {
  UsageWindowPlan plan = PlanUsageWindow(kDay0 + kHour, kDay0 + kDay);
  EXPECT_EQ(RollupRows(plan), 2);
  ExpectExactCover(kDay0 + kHour, kDay0 + kDay);
}

TEST(PlanUsageWindow, ThirtyDaysReadAFewDozenRowsAtMost) {
  // The bench's window (30 days up to now, on hour boundaries) for every hour of the day, and windows
  // with arbitrary edges: the rows read per instance stay small whatever the edges.
  int64_t worst = 0;
  for (int64_t h = 0; h < 7 * 24; ++h) {
    const int64_t end = kDay0 + h * kHour;
    UsageWindowPlan plan = PlanUsageWindow(end - 30 * kDay, end + 1234);
    worst = std::max(worst, RollupRows(plan));
    ExpectExactCover(end - 30 * kDay, end + 1234);
  }
  EXPECT_LE(worst, 20);
}

TEST(PlanUsageWindow, WindowsAcrossTheEpochUseFloorsNotTruncation) {
  ExpectExactCover(-3 * kDay - 5, 2 * kDay + 7);
  ExpectExactCover(-30 * kDay, -kHour);
}

TEST(PlanUsageWindow, RandomWindowsAreCoveredExactlyOnce) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 3000; ++i) {
    const int64_t start = kDay0 - static_cast<int64_t>(rng() % (400 * kDay));
    // Short and long windows, on and off hour boundaries.
    int64_t length = static_cast<int64_t>(rng() % (i % 2 == 0 ? 3 * kHour : 100 * kDay)) + 1;
    if (i % 5 == 0) length = (length / kHour + 1) * kHour;
    ExpectExactCover(start, start + length);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace dedicated::controlplane
