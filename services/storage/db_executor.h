#pragma once
// A bounded pool of threads, each owning one database session: blocking database work never runs on a
// gRPC reactor thread, and the number of connections is fixed. When the queue is full, Submit refuses
// at once so the caller can answer RESOURCE_EXHAUSTED instead of piling up latency.

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/storage/db_session.h"

namespace dedicated::storage {

class DbExecutor {
 public:
  using Task = std::function<void(DbSession&)>;
  // Called on the pool thread with the seconds a task waited in the queue, before it runs (metrics).
  using WaitObserver = std::function<void(double)>;

  DbExecutor(std::string dsn, int threads, int max_queue, WaitObserver on_wait = {});
  ~DbExecutor();  // finishes queued tasks, then joins

  // False when the queue is full or the executor is stopping; the task is then not run.
  bool Submit(Task task);

  // Runs fn on a pool thread and waits for it (for callers that are not reactor threads).
  template <typename Fn>
  auto Run(Fn&& fn) -> decltype(fn(std::declval<DbSession&>()));

  int queued() const;
  int busy() const;

 private:
  struct Queued {
    Task task;
    absl::Time enqueued;
  };

  void Loop();

  const int max_queue_;
  std::string dsn_;
  const WaitObserver on_wait_;
  mutable absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

template <typename Fn>
auto DbExecutor::Run(Fn&& fn) -> decltype(fn(std::declval<DbSession&>())) {
  using Result = decltype(fn(std::declval<DbSession&>()));
  absl::Mutex done_mu;
  bool done = false;
  std::optional<Result> result;
  bool submitted = Submit([&](DbSession& session) {
    Result r = fn(session);
    absl::MutexLock lock(&done_mu);
    result.emplace(std::move(r));
    done = true;
  });
  if (!submitted) return Result(absl::ResourceExhaustedError("database executor queue is full"));
  absl::MutexLock lock(&done_mu);
  done_mu.Await(absl::Condition(&done));
  return std::move(*result);
}

}  // namespace dedicated::storage
