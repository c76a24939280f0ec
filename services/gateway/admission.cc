#include "services/gateway/admission.h"

#include <algorithm>

namespace dedicated::gateway {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Seconds(1);
constexpr absl::Duration kMaxBackoff = absl::Seconds(30);

bool Contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

int PickReplica(const std::vector<ReplicaLoad>& loads, uint64_t rotation) {
  bool any_healthy = false;
  for (const ReplicaLoad& l : loads) any_healthy |= !l.excluded && l.healthy;
  int best = -1;
  const size_t n = loads.size();
  for (size_t k = 0; k < n; ++k) {
    size_t i = (rotation + k) % n;
    const ReplicaLoad& l = loads[i];
    if (l.excluded || l.in_flight >= l.limit || (any_healthy && !l.healthy)) continue;
    // Compare in_flight/limit without division: a*limit_b < b*limit_a.
    if (best < 0 || l.in_flight * loads[best].limit < loads[best].in_flight * l.limit) best = static_cast<int>(i);
  }
  return best;
}

int Admission::PickLocked(const std::vector<std::string>& tried, absl::Time now, bool* any_candidate) {
  std::vector<ReplicaLoad> loads;
  loads.reserve(replicas_.size());
  bool any = false;
  for (const auto& r : replicas_) {
    ReplicaLoad l;
    l.in_flight = r->in_flight_;
    l.limit = std::max<int64_t>(1, r->spec_.max_concurrency);
    l.healthy = now >= r->unhealthy_until_;
    l.excluded = !tried.empty() && Contains(tried, r->id());
    any |= !l.excluded;
    loads.push_back(l);
  }
  if (any_candidate != nullptr) *any_candidate = any;
  return PickReplica(loads, rotation_++);
}

void Admission::SetReplicas(const std::vector<ReplicaSpec>& specs, absl::Time now) {
  std::vector<std::function<void()>> calls;
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::shared_ptr<Replica>> next;
    next.reserve(specs.size());
    for (const ReplicaSpec& spec : specs) {
      std::shared_ptr<Replica> kept;
      for (const auto& r : replicas_) {
        if (r->id() == spec.replica_id && r->endpoint() == spec.endpoint) kept = r;
      }
      if (kept == nullptr) kept = std::make_shared<Replica>(spec);
      kept->spec_.max_concurrency = spec.max_concurrency;
      next.push_back(std::move(kept));
    }
    for (const auto& r : replicas_) {
      if (std::find(next.begin(), next.end(), r) == next.end()) {
        r->removed_ = true;
        in_flight_ -= r->in_flight_;
      }
    }
    replicas_ = std::move(next);
    calls = DrainQueueLocked(now);
  }
  RunOutsideLock(std::move(calls));
}

Admission::Result Admission::Acquire(const std::vector<std::string>& tried, absl::Time now, Grant on_grant) {
  absl::MutexLock lock(&mu_);
  bool any_candidate = false;
  // FIFO: while others wait, a newcomer queues behind them (unless a free slot suits it and nobody
  // waiting could take it, which DrainQueueLocked already ruled out when it left them queued).
  int i = PickLocked(tried, now, &any_candidate);
  if (!any_candidate) return {Outcome::kNoReplica, nullptr, 0};
  if (i >= 0 && waiters_.empty()) {
    std::shared_ptr<Replica> r = replicas_[i];
    ++r->in_flight_;
    ++in_flight_;
    return {Outcome::kGranted, r, 0};
  }
  if (waiters_.size() >= max_queue_) return {Outcome::kQueueFull, nullptr, 0};
  uint64_t ticket = next_ticket_++;
  waiters_.push_back(Waiter{ticket, tried, std::move(on_grant)});
  return {Outcome::kQueued, nullptr, ticket};
}

bool Admission::CancelWait(uint64_t ticket) {
  absl::MutexLock lock(&mu_);
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->ticket == ticket) {
      waiters_.erase(it);
      return true;
    }
  }
  return false;
}

std::vector<std::function<void()>> Admission::DrainQueueLocked(absl::Time now) {
  std::vector<std::function<void()>> calls;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    bool any_candidate = false;
    int i = PickLocked(it->tried, now, &any_candidate);
    if (!any_candidate) {
      calls.push_back([grant = std::move(it->on_grant)] { grant(nullptr); });
      it = waiters_.erase(it);
    } else if (i >= 0) {
      std::shared_ptr<Replica> r = replicas_[i];
      ++r->in_flight_;
      ++in_flight_;
      calls.push_back([grant = std::move(it->on_grant), r] { grant(r); });
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  return calls;
}

void Admission::RunOutsideLock(std::vector<std::function<void()>> calls) {
  for (auto& call : calls) call();
}

void Admission::Release(const std::shared_ptr<Replica>& replica, absl::Time now) {
  std::vector<std::function<void()>> calls;
  {
    absl::MutexLock lock(&mu_);
    if (replica == nullptr || replica->removed_ || replica->in_flight_ == 0) return;
    --replica->in_flight_;
    --in_flight_;
    calls = DrainQueueLocked(now);
  }
  RunOutsideLock(std::move(calls));
}

void Admission::MarkFailure(const std::shared_ptr<Replica>& replica, absl::Time now) {
  absl::MutexLock lock(&mu_);
  int failures = std::min(replica->consecutive_failures_, 5);
  absl::Duration backoff = std::min(kMaxBackoff, kFirstBackoff * (1 << failures));
  ++replica->consecutive_failures_;
  replica->unhealthy_until_ = now + backoff;
}

void Admission::MarkSuccess(const std::shared_ptr<Replica>& replica) {
  absl::MutexLock lock(&mu_);
  replica->consecutive_failures_ = 0;
  replica->unhealthy_until_ = absl::InfinitePast();
}

int64_t Admission::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

int64_t Admission::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(waiters_.size());
}

size_t Admission::replica_count() const {
  absl::MutexLock lock(&mu_);
  return replicas_.size();
}

bool Admission::IsHealthy(const std::string& replica_id, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  for (const auto& r : replicas_) {
    if (r->id() == replica_id) return now >= r->unhealthy_until_;
  }
  return false;
}

}  // namespace dedicated::gateway
