#pragma once
// How GetUsage splits a window over the billing rollup (migrations/V010__billing_rollup.sql).
//
// The rollup holds closed intervals' seconds per UTC hour and per UTC day. A window [start, end) is read
// as: whole days from the daily rollup; whole hours of the edge days from the hourly rollup, or, when that
// is shorter, the edge day's row minus the hours outside the window (a day has 24 hours: at most 12 rows
// per edge instead of 23); and the partial hours at the two edges from the raw intervals. Open intervals
// are never rolled up and are always read raw over the whole window. Every second of [start, end) is
// counted exactly once; pure arithmetic, unit-tested in usage_window_test.cc.

#include <cstdint>
#include <vector>

namespace dedicated::controlplane {

// [from, to) in Unix seconds; rows of the range are added (sign 1) or subtracted (sign -1).
struct SignedRange {
  int64_t from = 0;
  int64_t to = 0;
  int sign = 1;
  friend bool operator==(const SignedRange&, const SignedRange&) = default;
};

struct UsageWindowPlan {
  std::vector<SignedRange> raw;     // closed intervals clipped to these (sign always 1)
  std::vector<SignedRange> hourly;  // billable_seconds_hourly rows whose hour is in the range
  std::vector<SignedRange> daily;   // billable_seconds_daily rows whose day is in the range
};

// `end` already clipped to now; an empty or inverted window plans nothing.
UsageWindowPlan PlanUsageWindow(int64_t start, int64_t end);

}  // namespace dedicated::controlplane
