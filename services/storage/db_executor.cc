#include "services/storage/db_executor.h"

#include <pthread.h>

#include <string>

namespace dedicated::storage {

DbExecutor::DbExecutor(std::string dsn, int threads, int max_queue, WaitObserver on_wait)
    : max_queue_(max_queue), dsn_(std::move(dsn)), on_wait_(std::move(on_wait)) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] {
      // Named so that `top -H` and per-thread profiles tell the database threads from gRPC's.
      std::string name = "db-exec-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      Loop();
    });
  }
}

DbExecutor::~DbExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool DbExecutor::Submit(Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || static_cast<int>(queue_.size()) >= max_queue_) return false;
  queue_.push_back(Queued{std::move(task), absl::Now()});
  return true;
}

int DbExecutor::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

int DbExecutor::busy() const {
  absl::MutexLock lock(&mu_);
  return busy_;
}

void DbExecutor::Loop() {
  DbSession session(dsn_);
  while (true) {
    Task task;
    absl::Time enqueued;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](DbExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front().task);
      enqueued = queue_.front().enqueued;
      queue_.pop_front();
      ++busy_;
    }
    if (on_wait_) on_wait_(absl::ToDoubleSeconds(absl::Now() - enqueued));
    task(session);
    absl::MutexLock lock(&mu_);
    --busy_;
  }
}

}  // namespace dedicated::storage
