#include "services/controlplane/route_cache.h"

#include "absl/strings/str_cat.h"
#include "services/common/log.h"
#include "services/controlplane/instance_store.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

// The rows of the table: live instances, each joined with its routable replicas (engine READY, desired
// RUNNING, so DRAINING replicas are left out, and not on a DOWN node). Both statements read the same
// FROM/WHERE, so the digest moves exactly when the table's content does.
#define DI_ROUTE_ROWS                                                                                      \
  " FROM instances i LEFT JOIN replicas r ON r.instance_id = i.id AND r.state = 'READY' "                 \
  "   AND r.desired_state = 'RUNNING' AND r.endpoint <> '' "                                               \
  "   AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = r.node_id AND n.state <> 'DOWN') "                    \
  " WHERE i.deleted_at IS NULL "

constexpr Sql kRouteDigest{"route_digest",
                           "SELECT md5(coalesce(string_agg(concat_ws('|', i.id, i.folder_id, i.status, "
                           "i.status_message, i.model_id, i.configuration, r.id, r.endpoint, r.configuration), "
                           "',' ORDER BY i.id, r.id), ''))" DI_ROUTE_ROWS};
constexpr Sql kRouteRows{"route_rows",
                         "SELECT i.id, i.folder_id, i.status, i.status_message, i.model_id, i.configuration, "
                         "extract(epoch FROM i.created_at)::bigint, r.id, r.endpoint, r.configuration" DI_ROUTE_ROWS
                         " ORDER BY i.id, r.id"};

int64_t MaxConcurrency(const catalog::Catalog& catalog, const std::string& model_id, const std::string& config) {
  const v1::Configuration* c = catalog.FindConfiguration(model_id, config);
  return c == nullptr ? 0 : c->max_concurrency();
}

absl::StatusOr<std::string> ReadDigest(storage::DbSession& db) {
  std::string digest;
  absl::Status s = db.ReadOneStatement("route_digest", [&](pqxx::nontransaction& tx, storage::DbSession& session) {
    digest = session.Exec(tx, kRouteDigest)[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return digest;
}

}  // namespace

absl::StatusOr<v1::RouteTable> LoadRouteTable(storage::DbSession& db, const catalog::Catalog& catalog) {
  v1::RouteTable table;
  absl::Status s = db.ReadOneStatement("route_rows", [&](pqxx::nontransaction& tx, storage::DbSession& session) {
    table.Clear();
    v1::InstanceRoute* current = nullptr;
    for (const auto& row : session.Exec(tx, kRouteRows)) {
      std::string id = row[0].as<std::string>();
      if (current == nullptr || current->instance_id() != id) {
        current = table.add_instances();
        current->set_instance_id(id);
        current->set_folder_id(row[1].as<std::string>());
        v1::Instance::Status status = v1::Instance::STATUS_UNSPECIFIED;
        v1::Instance::Status_Parse(row[2].as<std::string>(), &status);
        current->set_status(status);
        current->set_status_message(row[3].as<std::string>());
        current->set_model_id(row[4].as<std::string>());
        current->set_configuration(row[5].as<std::string>());
        current->set_max_concurrency(MaxConcurrency(catalog, current->model_id(), current->configuration()));
        current->set_created_at_seconds(row[6].as<int64_t>());
        current->set_model_uri(ModelUri(current->folder_id(), id));
      }
      if (row[7].is_null()) continue;
      v1::ReplicaRoute* replica = current->add_replicas();
      replica->set_replica_id(row[7].as<std::string>());
      replica->set_endpoint(row[8].as<std::string>());
      replica->set_configuration(row[9].as<std::string>());
      replica->set_max_concurrency(MaxConcurrency(catalog, current->model_id(), replica->configuration()));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return table;
}

void RouteCache::Start() {
  storage::DbSession db(dsn_);
  if (absl::Status s = Refresh(db); !s.ok()) {
    LogWarning("route table: first load failed; gateways get it when it loads", {{"error", s.ToString()}});
  }
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void RouteCache::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (started_) thread_.join();
}

std::shared_ptr<const v1::RouteTable> RouteCache::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::Status RouteCache::Refresh(storage::DbSession& db) {
  absl::StatusOr<std::string> digest = ReadDigest(db);
  if (!digest.ok()) return digest.status();
  {
    std::shared_ptr<const v1::RouteTable> known = Current();
    if (known != nullptr && known->version() == *digest) return absl::OkStatus();
  }
  absl::StatusOr<v1::RouteTable> table = LoadRouteTable(db, *catalog_);
  if (!table.ok()) return table.status();
  // A change between the two statements leaves the content newer than the digest: the next poll sees a
  // different digest and loads again, so the table converges.
  table->set_version(*digest);
  auto published = std::make_shared<const v1::RouteTable>(*std::move(table));
  absl::MutexLock lock(&mu_);
  current_ = published;
  for (auto& [handle, listener] : listeners_) listener(published);
  return absl::OkStatus();
}

int RouteCache::Subscribe(Listener listener) {
  absl::MutexLock lock(&mu_);
  int handle = next_handle_++;
  if (current_ != nullptr) listener(current_);
  listeners_.emplace(handle, std::move(listener));
  return handle;
}

void RouteCache::Unsubscribe(int handle) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(handle);
}

void RouteCache::CloseSubscribers() {
  absl::MutexLock lock(&mu_);
  std::map<int, Listener> listeners;
  listeners.swap(listeners_);
  for (auto& [handle, listener] : listeners) listener(nullptr);
}

void RouteCache::Loop() {
  storage::DbSession db(dsn_);
  bool failing = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), poll_)) return;
      // No gateway is watching: do not read. The digest covers every live instance and replica (1.5 s
      // per read at 5000 instances in bench/run_fleet_bench.sh); a new subscriber gets the last table at
      // once and the fresh one within one poll.
      if (listeners_.empty()) continue;
    }
    absl::Status s = Refresh(db);
    if (!s.ok() && !failing) LogWarning("route table: refresh failed; serving the last one", {{"error", s.ToString()}});
    if (s.ok() && failing) LogInfo("route table: refresh works again");
    failing = !s.ok();
  }
}

}  // namespace dedicated::controlplane
