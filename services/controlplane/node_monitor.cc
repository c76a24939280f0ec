#include "services/controlplane/node_monitor.h"

#include "absl/strings/str_join.h"
#include "services/common/log.h"
#include "services/common/status_macros.h"
#include "services/controlplane/billing_store.h"
#include "services/controlplane/node_store.h"
#include "services/controlplane/operation_steps.h"
#include "services/controlplane/operation_store.h"

namespace dedicated::controlplane {

absl::Status MarkSilentNodesDownOnce(storage::DbSession& db, const ControlplaneConfig& config,
                                     std::vector<std::string>* down_out, std::vector<std::string>* affected_out) {
  std::vector<std::string>& down = *down_out;
  std::vector<std::string>& affected = *affected_out;
  return db.InTransaction("mark nodes down", [&](pqxx::work& tx, storage::DbSession& s) -> absl::Status {
      down.clear();
      affected.clear();
      std::vector<std::string> silent = SilentNodes(tx, s, config.node_timeout);
      if (silent.empty()) return absl::OkStatus();
      // Instances before nodes: the lock order of node_store.h.
      std::vector<std::string> on_silent = InstancesOnNodes(tx, s, silent);
      LockInstances(tx, s, std::set<std::string>(on_silent.begin(), on_silent.end()));
      down = MarkSilentNodesDown(tx, s, config.node_timeout);
      if (down.empty()) return absl::OkStatus();
      // Billing of their replicas ends at the last good heartbeat, not now.
      EndBillingAtLastHeartbeat(tx, s, down);
      affected = InstancesOnNodes(tx, s, down);
      for (const std::string& instance_id : affected) {
        DI_RETURN_IF_ERROR(ReconcileActiveInstance(tx, s, instance_id, config.provision_timeout));
      }
      return absl::OkStatus();
    });
}

void NodeMonitor::Start() { thread_ = std::thread([this] { Loop(); }); }

void NodeMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void NodeMonitor::Loop() {
  storage::DbSession db(config_->database_url);
  const absl::Duration period = std::min(absl::Seconds(1), config_->node_timeout / 4);
  // Startup grace: after a restart that outlasted --node-timeout every heartbeat in the database is stale,
  // and the agents are still reconnecting (gRPC backoff). Judging them at once would mark the whole fleet
  // DOWN and start repairs everywhere. A node that really died meanwhile is marked DOWN one timeout later,
  // and its billing still ends at its last heartbeat. (Kubernetes' node controller has the same grace.)
  const absl::Time judge_from = absl::Now() + config_->node_timeout;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), period)) return;
    }
    if (absl::Now() < judge_from) continue;
    std::vector<std::string> down;
    std::vector<std::string> affected;
    absl::Status status = MarkSilentNodesDownOnce(db, *config_, &down, &affected);
    if (status.ok() && !affected.empty()) {
      // Separately: a step locks its operation before its instance (see node_api.cc).
      (void)db.Autocommit("wake operations", [&](pqxx::nontransaction& tx, storage::DbSession& s) -> absl::Status {
        WakeInstanceOperations(tx, s, affected);
        return absl::OkStatus();
      });
    }
    if (!status.ok()) {
      LogWarning("node liveness check failed", {{"error", status.ToString()}});
    } else if (!down.empty()) {
      LogWarning("nodes marked DOWN: no heartbeat", {{"node_ids", absl::StrJoin(down, ",")}});
      on_change_();
    }
  }
}

}  // namespace dedicated::controlplane
