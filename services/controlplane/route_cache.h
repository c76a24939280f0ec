#pragma once
// The routing table of gateways (RouteService.Watch): every live instance with its status, the catalog's
// per-replica concurrency limit, and the replicas that may take new requests.
//
// Freshness: a poller reads, every `poll` (200 ms by default), an md5 digest of exactly the rows the
// table is made of (one statement, 32 bytes on the wire) and loads the whole table only when the digest
// moved. A digest of the content, rather than max(updated_at) or a counter, needs no schema change and
// cannot miss a change committed late by a long transaction whose updated_at (now() = its start time) is
// older than what the last poll saw. Subscribers (gateway streams) get every new table. If PostgreSQL is
// unreachable the last table stays and the poller keeps retrying.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedicated/v1/route_service.pb.h"
#include "services/catalog/catalog.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

// Reads the routing table in the caller's transaction (pure SQL + catalog lookups; no state).
absl::StatusOr<v1::RouteTable> LoadRouteTable(storage::DbSession& db, const catalog::Catalog& catalog);

class RouteCache {
 public:
  using Listener = std::function<void(std::shared_ptr<const v1::RouteTable>)>;

  RouteCache(std::string dsn, std::shared_ptr<const catalog::Catalog> catalog, absl::Duration poll)
      : dsn_(std::move(dsn)), catalog_(std::move(catalog)), poll_(poll) {}
  ~RouteCache() { Stop(); }

  // Loads once (an error is logged: the poller retries) and starts the poller.
  void Start();
  void Stop();

  std::shared_ptr<const v1::RouteTable> Current() const;

  // Reloads through `db` if the digest moved.
  absl::Status Refresh(storage::DbSession& db);

  // `listener` is called with the current table at once (unless none was loaded yet) and with every newer
  // one, on the poller's thread; it must not block. Returns a handle for Unsubscribe.
  int Subscribe(Listener listener);
  // After this returns the listener is never called again.
  void Unsubscribe(int handle);
  // Calls every listener once with nullptr ("end the stream") and drops them all.
  void CloseSubscribers();

 private:
  void Loop();

  const std::string dsn_;
  const std::shared_ptr<const catalog::Catalog> catalog_;
  const absl::Duration poll_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const v1::RouteTable> current_ ABSL_GUARDED_BY(mu_);
  std::map<int, Listener> listeners_ ABSL_GUARDED_BY(mu_);
  int next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace dedicated::controlplane
