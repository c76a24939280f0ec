#pragma once
// Admission for simulated generations: at most `max_running` run at once, the rest wait in FIFO order,
// like a real engine's batch slots. It also derives the inter-token delay from how many are running, so
// that throughput per request drops under load as on a GPU.

#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace dedicated::engine_sim {

class GenerationScheduler;

// A running slot. Destroying it (or Reset()) frees the slot and admits the next waiter; holding it in
// the session means no path (error, disconnect, shutdown) can leak a slot.
class SlotLease {
 public:
  SlotLease() = default;
  explicit SlotLease(GenerationScheduler* scheduler) : scheduler_(scheduler) {}
  SlotLease(SlotLease&& other) noexcept : scheduler_(std::exchange(other.scheduler_, nullptr)) {}
  SlotLease& operator=(SlotLease&& other) noexcept;
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  ~SlotLease() { Reset(); }

  void Reset();
  bool held() const { return scheduler_ != nullptr; }

 private:
  GenerationScheduler* scheduler_ = nullptr;
};

class GenerationScheduler {
 public:
  // Called exactly once with the lease when the request's turn comes, on the thread that freed the slot
  // (or inside Enqueue when a slot is free): it should only hand the lease over to its own executor.
  using Grant = absl::AnyInvocable<void(SlotLease)>;

  GenerationScheduler(int64_t max_running, absl::Duration inter_token, double slowdown)
      : max_running_(max_running), inter_token_(inter_token), slowdown_(slowdown) {}
  GenerationScheduler(const GenerationScheduler&) = delete;
  GenerationScheduler& operator=(const GenerationScheduler&) = delete;

  // Returns a ticket for CancelWaiting. The grant may run before Enqueue returns.
  uint64_t Enqueue(Grant grant);
  // Removes a waiting request (its client left). False if it is not waiting any more: its grant has run
  // or is running, and the lease it got must be dropped by its owner.
  bool CancelWaiting(uint64_t ticket);
  // Drops all waiters and stops granting; used once the I/O threads are gone.
  void Shutdown();

  int64_t running() const;
  int64_t waiting() const;
  // inter_token * (1 + slowdown * (running - 1)), evaluated now.
  absl::Duration InterTokenDelay() const;

 private:
  friend class SlotLease;
  void Release();

  const int64_t max_running_;
  const absl::Duration inter_token_;
  const double slowdown_;

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer, which then
  // cannot see absl::Mutex's ordering and reports false races; the same holds in metrics.h, session.h.
  mutable std::mutex mu_;
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::pair<uint64_t, Grant>> waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dedicated::engine_sim
