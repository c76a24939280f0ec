#include "services/controlplane/operation_runner.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "services/common/ids.h"
#include "services/common/log.h"

namespace dedicated::controlplane {
namespace {

// What the metrics of a finished operation need: its age, and for an instance its model and configuration.
constexpr storage::Sql kFinishedOperationFacts{"operation_finished_facts", R"sql(
  SELECT extract(epoch FROM now() - o.created_at)::float8, coalesce(i.model_id, ''), coalesce(i.configuration, '')
  FROM operations o LEFT JOIN instances i ON i.id = o.instance_id WHERE o.id = $1)sql"};

std::string MakeOwner() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "/", getpid(), "/", NewId("").substr(0, 8));
}

}  // namespace

OperationRunner::OperationRunner(const ControlplaneConfig* config, OperationSteps* steps,
                                 Metrics* metrics, std::function<void()> on_assignments_changed)
    : config_(config),
      steps_(steps),
      metrics_(metrics),
      on_assignments_changed_(std::move(on_assignments_changed)),
      owner_(MakeOwner()) {}

OperationRunner::~OperationRunner() { Stop(); }

void OperationRunner::Start() {
  for (int i = 0; i < config_->workers; ++i) threads_.emplace_back([this] { Loop(); });
}

void OperationRunner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void OperationRunner::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void OperationRunner::Loop() {
  storage::DbSession db(config_->database_url);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (RunClaimed(db, kClaimBatch) > 0) continue;  // there may be more right away
    absl::MutexLock lock(&mu_);
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return woken_ || stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), config_->worker_poll);
    woken_ = false;
  }
}

bool OperationRunner::RunOne(storage::DbSession& db) { return RunClaimed(db, 1) > 0; }

int OperationRunner::RunClaimed(storage::DbSession& db, int limit) {
  std::vector<std::string> claimed;
  absl::Status status = db.InTransaction("claim operations", [&](pqxx::work& tx, storage::DbSession& s) {
    claimed = ClaimOperations(tx, s, owner_, config_->operation_lease, limit);
    return absl::OkStatus();
  });
  if (!status.ok()) {
    LogWarning("claiming operations failed", {{"error", status.ToString()}});
    return 0;
  }
  for (const std::string& id : claimed) RunStep(db, id);
  return static_cast<int>(claimed.size());
}

void OperationRunner::RunStep(storage::DbSession& db, const std::string& id) {
  StepOutcome outcome;
  std::string kind;
  bool first_step = false;
  FinishedOperation finished;
  absl::Status status = db.InTransaction("operation step", [&](pqxx::work& tx, storage::DbSession& s) -> absl::Status {
    std::optional<InstanceRow> instance;
    std::optional<OperationRow> op = LockClaimedOperation(tx, s, id, owner_, &instance);
    if (!op.has_value()) {  // finished elsewhere (e.g. superseded by a Delete) or lease lost
      outcome = StepOutcome{.finished = false, .run_again_after = absl::ZeroDuration(), .result = "", .assignments_changed = false};
      kind.clear();
      return absl::OkStatus();
    }
    kind = op->kind;
    first_step = first_step || op->attempts == 1;
    absl::StatusOr<StepOutcome> result = steps_->Step(tx, s, *op, owner_, std::move(instance));
    if (!result.ok()) return result.status();
    outcome = *result;
    if (!outcome.finished) {
      RescheduleOperation(tx, s, id, owner_, outcome.run_again_after);
    } else if (metrics_ != nullptr) {
      pqxx::row facts = s.Exec(tx, kFinishedOperationFacts, id).at(0);
      finished = FinishedOperation{.kind = kind, .result = outcome.result, .seconds = facts[0].as<double>()};
      if (kind == kCreateInstance && outcome.result == "ok") {
        finished.model_id = facts[1].as<std::string>();
        finished.configuration = facts[2].as<std::string>();
      }
    }
    return absl::OkStatus();
  });
  // Counted even when the first step rolled back: the operation has started, and the next claim is no
  // longer its first.
  if (first_step && metrics_ != nullptr && !kind.empty()) metrics_->RecordOperationStarted(kind);
  if (!status.ok()) {
    // The step rolled back. Give the lease back with a pause so a persistent error does not spin; if even
    // that fails (database down) the lease lapses on its own. ABORTED is contention that outlasted the
    // transaction's own retries (e.g. placers that keep choosing the same best-fit node): a short pause
    // is enough, where a full second cost 15% of the Creates of the issue-4 bench a second each.
    LogWarning("operation step failed", {{"operation_id", id}, {"error", status.ToString()}});
    absl::Duration pause = status.code() == absl::StatusCode::kAborted ? kAbortedPause : absl::Seconds(1);
    (void)db.InTransaction("release lease", [&](pqxx::work& tx, storage::DbSession& s) {
      RescheduleOperation(tx, s, id, owner_, pause);
      return absl::OkStatus();
    });
    return;
  }
  if (outcome.assignments_changed) on_assignments_changed_();
  if (outcome.finished) {
    LogInfo("operation finished", {{"operation_id", id}, {"kind", kind}, {"result", outcome.result}});
    if (metrics_ != nullptr) metrics_->RecordOperationFinished(finished);
  }
}

}  // namespace dedicated::controlplane
