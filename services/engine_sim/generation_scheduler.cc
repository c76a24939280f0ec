#include "services/engine_sim/generation_scheduler.h"

#include <algorithm>

namespace dedicated::engine_sim {

SlotLease& SlotLease::operator=(SlotLease&& other) noexcept {
  if (this != &other) {
    Reset();
    scheduler_ = std::exchange(other.scheduler_, nullptr);
  }
  return *this;
}

void SlotLease::Reset() {
  if (GenerationScheduler* s = std::exchange(scheduler_, nullptr)) s->Release();
}

uint64_t GenerationScheduler::Enqueue(Grant grant) {
  uint64_t ticket;
  {
    std::lock_guard lock(mu_);
    ticket = next_ticket_++;
    if (shut_down_) return ticket;  // Dropping the grant: nothing will run any more.
    if (running_ >= max_running_ || !waiting_.empty()) {
      waiting_.emplace_back(ticket, std::move(grant));
      return ticket;
    }
    ++running_;
  }
  // Outside the lock: the grant may post work that ends up calling back into the scheduler.
  grant(SlotLease(this));
  return ticket;
}

bool GenerationScheduler::CancelWaiting(uint64_t ticket) {
  Grant removed;  // Destroyed after the lock is released: it may own the last reference to a session.
  std::lock_guard lock(mu_);
  auto it = std::find_if(waiting_.begin(), waiting_.end(), [&](const auto& w) { return w.first == ticket; });
  if (it == waiting_.end()) return false;
  removed = std::move(it->second);
  waiting_.erase(it);
  return true;
}

void GenerationScheduler::Release() {
  Grant next;
  {
    std::lock_guard lock(mu_);
    --running_;
    if (shut_down_ || waiting_.empty()) return;
    next = std::move(waiting_.front().second);
    waiting_.pop_front();
    ++running_;
  }
  next(SlotLease(this));
}

void GenerationScheduler::Shutdown() {
  std::deque<std::pair<uint64_t, Grant>> dropped;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    dropped.swap(waiting_);
  }
  // `dropped` dies here, outside the lock.
}

int64_t GenerationScheduler::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int64_t GenerationScheduler::waiting() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(waiting_.size());
}

absl::Duration GenerationScheduler::InterTokenDelay() const {
  int64_t running = this->running();
  return inter_token_ * (1.0 + slowdown_ * static_cast<double>(std::max<int64_t>(running - 1, 0)));
}

}  // namespace dedicated::engine_sim
