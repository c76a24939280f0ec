#pragma once
// The controlplane's current IamSnapshot. Authentication and authorization read it from memory, so a
// call costs no database round trip for them.
//
// Freshness: every IAM write bumps iam_state.version in its own transaction and then calls Refresh on
// the session that wrote, so the writer's next call already sees it (a deleted key fails on the very
// next call). Changes made through another controlplane replica are picked up by a poller that reads
// the version every `poll` (200 ms by default) and reloads only when it moved. Subscribers (gateway
// snapshot streams) get every new snapshot. If PostgreSQL is unreachable the last snapshot stays in
// force (static stability) and the poller keeps retrying.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/iam/snapshot.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

class IamCache {
 public:
  using Listener = std::function<void(std::shared_ptr<const iam::IamSnapshot>)>;

  IamCache(std::string dsn, absl::Duration poll) : dsn_(std::move(dsn)), poll_(poll) {}
  ~IamCache() { Stop(); }

  // Loads once (an error is logged, not fatal: the poller retries) and starts the poller.
  void Start();
  void Stop();

  std::shared_ptr<const iam::IamSnapshot> Current() const;

  // Reloads through `db` if the version moved. Safe to call from any thread.
  absl::Status Refresh(storage::DbSession& db);

  // `listener` is called with the current snapshot at once and with every newer one, on the thread that
  // loaded it; it must not block. Returns a handle for Unsubscribe.
  int Subscribe(Listener listener);
  // After this returns the listener is never called again.
  void Unsubscribe(int handle);
  // Calls every listener once with nullptr ("end the stream": the controlplane is stopping) and drops
  // them all.
  void CloseSubscribers();

 private:
  void Loop();
  void Publish(std::shared_ptr<const iam::IamSnapshot> snapshot);

  const std::string dsn_;
  const absl::Duration poll_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const iam::IamSnapshot> current_ ABSL_GUARDED_BY(mu_) = std::make_shared<iam::IamSnapshot>();
  std::map<int, Listener> listeners_ ABSL_GUARDED_BY(mu_);
  int next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace dedicated::controlplane
