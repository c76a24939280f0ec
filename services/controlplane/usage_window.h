#pragma once
// How GetUsage splits a window over the billing rollup (migrations/V010__billing_rollup.sql).
//
// The rollup holds closed intervals' seconds per bucket of several sizes (kRollupBucketSeconds: an hour,
// 6 hours, a UTC day, 7 days; buckets aligned to the epoch). A window's whole hours are read as few
// buckets as possible: the largest buckets that fit, and at each edge either the smaller buckets inside
// the window or the enclosing bucket minus the smaller ones outside it, whichever reads fewer rows. The
// partial hours at the two edges are read from the raw closed intervals; open intervals are never
// rolled up and are always read raw over the whole window. Every second of [start, end) is counted
// exactly once; pure arithmetic, unit-tested in usage_window_test.cc.

#include <cstdint>
#include <vector>

namespace dedicated::controlplane {

// Must equal billable_rollup_bucket_seconds() in V010 (the CHECK there refuses any other size).
inline constexpr int64_t kRollupBucketSeconds[] = {3600, 6 * 3600, 86400, 7 * 86400};

// Buckets of `bucket_seconds` starting in [from, to), added (sign 1) or subtracted (sign -1). For raw
// ranges bucket_seconds is 0: closed intervals are clipped to [from, to).
struct SignedRange {
  int64_t bucket_seconds = 0;
  int64_t from = 0;
  int64_t to = 0;
  int sign = 1;
  friend bool operator==(const SignedRange&, const SignedRange&) = default;
};

struct UsageWindowPlan {
  std::vector<SignedRange> raw;     // partial hours at the edges (sign always 1)
  std::vector<SignedRange> rollup;  // billable_seconds_rollup buckets
};

// Floor and ceiling of `t` to a multiple of `unit` (> 0), also for times before the epoch.
int64_t FloorToMultiple(int64_t t, int64_t unit);
int64_t CeilToMultiple(int64_t t, int64_t unit);

// `end` already clipped to now; an empty or inverted window plans nothing.
UsageWindowPlan PlanUsageWindow(int64_t start, int64_t end);

// Rows per instance and SKU that a plan reads from the rollup at most (the cost it minimises).
int64_t RollupRows(const UsageWindowPlan& plan);

}  // namespace dedicated::controlplane
