#include "services/controlplane/iam_cache.h"

#include "services/common/log.h"
#include "services/controlplane/iam_store.h"

namespace dedicated::controlplane {

void IamCache::Start() {
  storage::DbSession db(dsn_);
  if (absl::Status s = Refresh(db); !s.ok()) {
    LogWarning("IAM snapshot: first load failed; every call is refused until it loads", {{"error", s.ToString()}});
  }
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void IamCache::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (started_) thread_.join();
}

std::shared_ptr<const iam::IamSnapshot> IamCache::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::Status IamCache::Refresh(storage::DbSession& db) {
  int64_t known = Current()->version;
  std::shared_ptr<iam::IamSnapshot> loaded;
  absl::Status s = db.InTransaction("iam_refresh", [&](pqxx::work& tx, storage::DbSession& session) {
    // One snapshot of all the IAM tables, so a concurrent write is seen whole or not at all.
    tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
    loaded.reset();
    if (ReadIamVersion(tx, session) == known) return absl::OkStatus();
    loaded = LoadIamSnapshot(tx, session);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (loaded != nullptr) Publish(std::move(loaded));
  return absl::OkStatus();
}

void IamCache::Publish(std::shared_ptr<const iam::IamSnapshot> snapshot) {
  absl::MutexLock lock(&mu_);
  // Two threads may load concurrently; never go back to an older version.
  if (snapshot->version <= current_->version) return;
  current_ = snapshot;
  for (auto& [handle, listener] : listeners_) listener(snapshot);
}

int IamCache::Subscribe(Listener listener) {
  absl::MutexLock lock(&mu_);
  int handle = next_handle_++;
  listener(current_);
  listeners_.emplace(handle, std::move(listener));
  return handle;
}

void IamCache::Unsubscribe(int handle) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(handle);
}

void IamCache::CloseSubscribers() {
  absl::MutexLock lock(&mu_);
  std::map<int, Listener> listeners;
  listeners.swap(listeners_);
  for (auto& [handle, listener] : listeners) listener(nullptr);
}

void IamCache::Loop() {
  storage::DbSession db(dsn_);
  bool failing = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), poll_)) return;
    }
    absl::Status s = Refresh(db);
    if (!s.ok() && !failing) LogWarning("IAM snapshot: refresh failed; serving the last one", {{"error", s.ToString()}});
    if (s.ok() && failing) LogInfo("IAM snapshot: refresh works again");
    failing = !s.ok();
  }
}

}  // namespace dedicated::controlplane
