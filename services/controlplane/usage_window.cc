#include "services/controlplane/usage_window.h"

namespace dedicated::controlplane {
namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

// Floor and ceiling to a multiple of `unit`, also for times before the epoch.
int64_t Floor(int64_t t, int64_t unit) { return t >= 0 ? t / unit * unit : -((-t + unit - 1) / unit * unit); }
int64_t Ceil(int64_t t, int64_t unit) { return -Floor(-t, unit); }

// Whole hours [from, to) inside one UTC day: the hours themselves, or the day minus the hours around them,
// whichever reads fewer rows.
void AddHoursOfOneDay(int64_t from, int64_t to, UsageWindowPlan& plan) {
  const int64_t day = Floor(from, kDay);
  const int64_t inside = (to - from) / kHour;
  const int64_t outside = 24 - inside;
  if (1 + outside >= inside) {
    plan.hourly.push_back({from, to, 1});
    return;
  }
  plan.daily.push_back({day, day + kDay, 1});
  if (day < from) plan.hourly.push_back({day, from, -1});
  if (to < day + kDay) plan.hourly.push_back({to, day + kDay, -1});
}

}  // namespace

UsageWindowPlan PlanUsageWindow(int64_t start, int64_t end) {
  UsageWindowPlan plan;
  if (end <= start) return plan;
  const int64_t h1 = Ceil(start, kHour);
  const int64_t h2 = Floor(end, kHour);
  if (h1 >= h2) {  // no whole hour: all raw
    plan.raw.push_back({start, end, 1});
    return plan;
  }
  if (start < h1) plan.raw.push_back({start, h1, 1});
  if (h2 < end) plan.raw.push_back({h2, end, 1});
  const int64_t d1 = Ceil(h1, kDay);
  const int64_t d2 = Floor(h2, kDay);
  if (d1 > d2) {  // [h1, h2) inside one day
    AddHoursOfOneDay(h1, h2, plan);
    return plan;
  }
  if (h1 < d1) AddHoursOfOneDay(h1, d1, plan);
  if (d1 < d2) plan.daily.push_back({d1, d2, 1});
  if (d2 < h2) AddHoursOfOneDay(d2, h2, plan);
  return plan;
}

}  // namespace dedicated::controlplane
