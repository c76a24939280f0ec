#include "services/controlplane/usage_window.h"

#include <iterator>

namespace dedicated::controlplane {
namespace {

constexpr int kLevels = static_cast<int>(std::size(kRollupBucketSeconds));
using Ranges = std::vector<SignedRange>;

int64_t Floor(int64_t t, int64_t unit) { return FloorToMultiple(t, unit); }
int64_t Ceil(int64_t t, int64_t unit) { return CeilToMultiple(t, unit); }

int64_t Rows(const Ranges& ranges) {
  int64_t rows = 0;
  for (const SignedRange& r : ranges) rows += (r.to - r.from) / r.bucket_seconds;
  return rows;
}

void Append(Ranges& to, const Ranges& from, int sign) {
  for (SignedRange r : from) {
    r.sign *= sign;
    to.push_back(r);
  }
}

Ranges Decompose(int64_t a, int64_t b, int level);

// [a, b) lies inside one bucket of `level` without being all of it: the smaller buckets inside, or the
// bucket minus the smaller buckets around [a, b).
Ranges InsideOneBucket(int64_t a, int64_t b, int level) {
  Ranges direct = Decompose(a, b, level - 1);
  const int64_t size = kRollupBucketSeconds[level];
  const int64_t bucket = Floor(a, size);
  Ranges complement = {{size, bucket, bucket + size, 1}};
  if (bucket < a) Append(complement, Decompose(bucket, a, level - 1), -1);
  if (b < bucket + size) Append(complement, Decompose(b, bucket + size, level - 1), -1);
  return Rows(complement) < Rows(direct) ? complement : direct;
}

// [a, b), on hour boundaries, with buckets of `level` and smaller.
Ranges Decompose(int64_t a, int64_t b, int level) {
  const int64_t size = kRollupBucketSeconds[level];
  if (level == 0) return {{size, a, b, 1}};
  const int64_t lo = Ceil(a, size);
  const int64_t hi = Floor(b, size);
  if (lo > hi) return InsideOneBucket(a, b, level);
  Ranges out;
  if (a < lo) Append(out, InsideOneBucket(a, lo, level), 1);
  if (lo < hi) out.push_back({size, lo, hi, 1});
  if (hi < b) Append(out, InsideOneBucket(hi, b, level), 1);
  return out;
}

}  // namespace

int64_t FloorToMultiple(int64_t t, int64_t unit) { return t >= 0 ? t / unit * unit : -((-t + unit - 1) / unit * unit); }
int64_t CeilToMultiple(int64_t t, int64_t unit) { return -FloorToMultiple(-t, unit); }

UsageWindowPlan PlanUsageWindow(int64_t start, int64_t end) {
  UsageWindowPlan plan;
  if (end <= start) return plan;
  const int64_t hour = kRollupBucketSeconds[0];
  const int64_t h1 = Ceil(start, hour);
  const int64_t h2 = Floor(end, hour);
  if (h1 >= h2) {  // no whole hour: all raw
    plan.raw.push_back({0, start, end, 1});
    return plan;
  }
  if (start < h1) plan.raw.push_back({0, start, h1, 1});
  if (h2 < end) plan.raw.push_back({0, h2, end, 1});
  plan.rollup = Decompose(h1, h2, kLevels - 1);
  return plan;
}

int64_t RollupRows(const UsageWindowPlan& plan) { return Rows(plan.rollup); }

}  // namespace dedicated::controlplane
