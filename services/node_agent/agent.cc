#include "services/node_agent/agent.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/grpc_status.h"
#include "services/common/log.h"
#include "services/node_agent/credentials.h"

namespace dedicated::node_agent {
namespace {

using ::dedicated::v1::Assignments;
using ::dedicated::v1::ReplicaStatus;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Duration SaneInterval(absl::Duration d, absl::Duration fallback) {
  if (d <= absl::ZeroDuration()) return fallback;
  // A misconfigured controlplane must not make the agent spin.
  return std::clamp(d, absl::Milliseconds(50), absl::Minutes(5));
}

// Heartbeat failures are logged when a streak starts, then every this many, then when it ends.
constexpr int64_t kHeartbeatFailureLogEvery = 12;

// The log message of a failed call: `what` happened, and if the controlplane refused the node credential
// (UNAUTHENTICATED: missing, unknown, deleted or expired key; PERMISSION_DENIED: a key that is not a node
// credential), it says so first. Waiting does not fix a refused credential, so an operator must see it at
// once; the call is still retried like any failure, since the fix (a restored key, a granted role) may
// happen on the controlplane's side.
std::string FailureMessage(absl::StatusCode code, absl::string_view what) {
  if (code == absl::StatusCode::kUnauthenticated || code == absl::StatusCode::kPermissionDenied) {
    return absl::StrCat("controlplane refused the node credential: ", what);
  }
  return std::string(what);
}

}  // namespace

// Exponential backoff with +-20% jitter, so that the agents of a fleet do not retry in lockstep after a
// controlplane restart.
class Agent::Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration max) : initial_(initial), max_(max), next_(initial) {}
  absl::Duration Next() {
    absl::Duration d = next_;
    next_ = std::min(next_ * 2, max_);
    ++attempts_;
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return d * jitter(rng_);
  }
  void Reset() {
    next_ = initial_;
    attempts_ = 0;
  }
  int64_t attempts() const { return attempts_; }

 private:
  const absl::Duration initial_;
  const absl::Duration max_;
  absl::Duration next_;
  int64_t attempts_ = 0;
  std::mt19937 rng_{std::random_device{}()};
};

std::shared_ptr<grpc::Channel> MakeControlplaneChannel(const std::string& target) {
  grpc::ChannelArguments args;
  // The assignment stream can be silent for hours; keepalive pings notice a controlplane host that
  // vanished without closing the connection. 5 minutes is the most frequent rate a default gRPC server
  // accepts on a quiet stream before it answers with GOAWAY(too_many_pings).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5 * 60 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // After a controlplane restart the next heartbeat must not wait for gRPC's default reconnect backoff
  // (1 s growing to 2 min): the controlplane declares a node dead after a few missed heartbeats.
  // Retrying a refused connection every second is cheap for both sides.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

Agent::Agent(AgentOptions options, SupervisorOptions supervisor_options, std::shared_ptr<grpc::Channel> channel,
             ProcessLauncher* launcher, PortAllocator* ports, Metrics* metrics, EngineRecordStore* records)
    : options_(std::move(options)),
      stub_(dedicated::v1::NodeService::NewStub(channel)),
      metrics_(metrics),
      heartbeat_interval_(options_.default_heartbeat_interval) {
  supervisor_ = std::make_unique<EngineSupervisor>(
      std::move(supervisor_options), launcher, ports, metrics,
      [this](const ReplicaStatus& status) { EnqueueReport(status); }, records);
}

Agent::~Agent() { Shutdown(); }

void Agent::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || shut_down_) return;
  }
  // Before registering: the controlplane hears about adopted engines in the first heartbeat, and the
  // first snapshot decides which of them stay.
  if (int adopted = supervisor_->Adopt(); adopted > 0) {
    LogInfo("adopted engines of the previous node-agent", {{"engines", absl::StrCat(adopted)}});
  }
  absl::MutexLock lock(&mu_);
  if (started_ || shut_down_) return;
  started_ = true;
  session_thread_ = std::thread(&Agent::RunSession, this);
  watch_thread_ = std::thread(&Agent::RunWatch, this);
  report_thread_ = std::thread(&Agent::RunReports, this);
}

void Agent::Shutdown(ShutdownMode mode) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    watch_stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  // No new assignments from here on, so nothing restarts what StopAll stops.
  if (watch_thread_.joinable()) watch_thread_.join();
  if (mode == ShutdownMode::kKeepEngines) {
    // Nothing to report: the engines keep their state, and the next agent's heartbeats carry it on.
    supervisor_->Detach();
  } else {
    supervisor_->StopAll();
  }
  {
    // Give the STOPPED reports a moment to reach the controlplane; it learns from their absence in
    // heartbeats too, but sooner is better for billing and routing.
    absl::MutexLock lock(&mu_);
    auto flushed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return (pending_reports_.empty() && !report_in_flight_) || node_id_.empty() || !started_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&flushed), options_.shutdown_report_timeout);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
    for (grpc::ClientContext* ctx : inflight_) ctx->TryCancel();
  }
  if (session_thread_.joinable()) session_thread_.join();
  if (report_thread_.joinable()) report_thread_.join();
}

std::string Agent::node_id() const {
  absl::MutexLock lock(&mu_);
  return node_id_;
}

bool Agent::SleepUnlessStopping(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void Agent::Authorize(grpc::ClientContext* ctx) const {
  if (!options_.credential.empty()) ctx->AddMetadata("authorization", AuthorizationValue(options_.credential));
}

std::string Agent::CredentialSource() const {
  return options_.credential.empty() ? "none" : options_.credential_source;
}

void Agent::BeginCall(grpc::ClientContext* ctx) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  Authorize(ctx);
  // Wait (within the deadline) for a connection instead of failing fast while the channel backs off.
  // Besides, a waiting call is what drives the reconnect: without one in flight, gRPC only notices a
  // restarted controlplane on its 5 s backup poll, by which time the node may have been declared dead.
  ctx->set_wait_for_ready(true);
  absl::MutexLock lock(&mu_);
  inflight_.insert(ctx);
  if (stopping_) ctx->TryCancel();
}

void Agent::EndCall(grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  inflight_.erase(ctx);
}

absl::Status Agent::Register(std::string* node_id, absl::Duration* heartbeat_interval) {
  dedicated::v1::RegisterNodeRequest req;
  req.set_name(options_.name);
  req.set_gpu_type(options_.gpu_type);
  req.set_gpu_count(options_.gpu_count);
  req.set_gpu_memory_bytes(options_.gpu_memory_bytes);
  for (const auto& [k, v] : options_.labels) (*req.mutable_labels())[k] = v;
  req.set_agent_version(kAgentVersion);
  req.set_address(options_.address);
  req.set_engine_kind(options_.engine_kind);
  dedicated::v1::RegisterNodeResponse resp;
  grpc::ClientContext ctx;
  BeginCall(&ctx);
  grpc::Status status = stub_->Register(&ctx, req, &resp);
  EndCall(&ctx);
  if (!status.ok()) return FromGrpcStatus(status);
  if (resp.node_id().empty()) return absl::InternalError("controlplane returned an empty node_id");
  *node_id = resp.node_id();
  *heartbeat_interval = SaneInterval(FromProto(resp.heartbeat_interval()), options_.default_heartbeat_interval);
  return absl::OkStatus();
}

// Registration and heartbeats share one thread: a heartbeat answered NOT_FOUND (the controlplane forgot
// the node) leads straight back to Register.
void Agent::RunSession() {
  Backoff backoff(options_.backoff_initial, options_.backoff_max);
  int64_t failure_streak = 0;
  for (;;) {
    std::string node_id;
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      node_id = node_id_;
      interval = heartbeat_interval_;
    }
    if (node_id.empty()) {
      absl::Status s = Register(&node_id, &interval);
      if (!s.ok()) {
        absl::Duration delay = backoff.Next();
        LogWarning(FailureMessage(s.code(), "register failed; retrying"),
                   {{"controlplane_error", s.ToString()},
                    {"credential", CredentialSource()},
                    {"attempt", absl::StrCat(backoff.attempts())},
                    {"retry_in", absl::FormatDuration(absl::Trunc(delay, absl::Milliseconds(1)))}});
        if (!SleepUnlessStopping(delay)) return;
        continue;
      }
      backoff.Reset();
      {
        absl::MutexLock lock(&mu_);
        node_id_ = node_id;
        heartbeat_interval_ = interval;
        ++generation_;
        // The stream (if any) belongs to the previous registration; reopen it for this one.
        if (watch_context_ != nullptr) watch_context_->TryCancel();
      }
      LogInfo("registered",
              {{"node_id", node_id}, {"name", options_.name}, {"heartbeat_interval", absl::FormatDuration(interval)}});
    }

    dedicated::v1::HeartbeatRequest req;
    req.set_node_id(node_id);
    // Unassigned replicas are forgotten once a heartbeat has carried their STOPPED state.
    std::vector<std::string> stopped;
    for (ReplicaStatus& status : supervisor_->Statuses()) {
      if (status.state() == ReplicaStatus::STOPPED) stopped.push_back(status.replica_id());
      *req.add_replicas() = std::move(status);
    }
    dedicated::v1::HeartbeatResponse resp;
    grpc::ClientContext ctx;
    BeginCall(&ctx);
    grpc::Status status = stub_->Heartbeat(&ctx, req, &resp);
    EndCall(&ctx);
    if (status.ok()) {
      if (failure_streak > 0) {
        LogInfo("heartbeat recovered", {{"node_id", node_id}, {"failures", absl::StrCat(failure_streak)}});
      }
      failure_streak = 0;
      if (resp.has_heartbeat_interval()) {
        interval = SaneInterval(FromProto(resp.heartbeat_interval()), interval);
        absl::MutexLock lock(&mu_);
        heartbeat_interval_ = interval;
      }
      supervisor_->Forget(stopped);
    } else {
      if (metrics_ != nullptr) metrics_->HeartbeatFailed();
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        LogWarning("controlplane does not know this node; registering again", {{"node_id", node_id}});
        absl::MutexLock lock(&mu_);
        if (node_id_ == node_id) node_id_.clear();
        continue;
      }
      if (failure_streak++ % kHeartbeatFailureLogEvery == 0) {
        absl::Status error = FromGrpcStatus(status);
        LogWarning(FailureMessage(error.code(), "heartbeat failed; engines keep running"),
                   {{"node_id", node_id},
                    {"controlplane_error", error.ToString()},
                    {"credential", CredentialSource()},
                    {"failures", absl::StrCat(failure_streak)}});
      }
    }
    absl::MutexLock lock(&mu_);
    auto wake = [this, &node_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || node_id_ != node_id; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), interval);
  }
}

void Agent::RunWatch() {
  Backoff backoff(options_.backoff_initial, options_.backoff_max);
  int64_t last_version = -1;
  for (;;) {
    std::string node_id;
    int64_t generation;
    grpc::ClientContext ctx;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return watch_stopping_ || !node_id_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (watch_stopping_) return;
      node_id = node_id_;
      generation = generation_;
      watch_context_ = &ctx;
    }
    dedicated::v1::WatchAssignmentsRequest req;
    req.set_node_id(node_id);
    // While the controlplane is away the stream waits for it (cancellable) rather than failing fast.
    ctx.set_wait_for_ready(true);
    Authorize(&ctx);
    // No deadline: the stream lives as long as the connection; keepalive and cancellation end it.
    std::unique_ptr<grpc::ClientReaderInterface<Assignments>> reader = stub_->WatchAssignments(&ctx, req);
    Assignments snapshot;
    int64_t received = 0;
    while (reader->Read(&snapshot)) {
      if (received++ == 0) LogInfo("assignment stream open", {{"node_id", node_id}});
      // A snapshot repeating the last version (e.g. after a reconnect) is routine; a new one is news.
      Log(snapshot.version() == last_version ? LogLevel::kDebug : LogLevel::kInfo, "assignments",
          {{"node_id", node_id},
           {"version", absl::StrCat(snapshot.version())},
           {"replicas", absl::StrCat(snapshot.replicas_size())}});
      last_version = snapshot.version();
      supervisor_->Reconcile(snapshot);
      backoff.Reset();
    }
    grpc::Status status = reader->Finish();
    bool reregistered;
    {
      absl::MutexLock lock(&mu_);
      watch_context_ = nullptr;
      if (watch_stopping_) return;
      reregistered = generation_ != generation;
      // Only a NOT_FOUND about the current registration counts: a stream opened before the session thread
      // registered again may still be refused for the old one (the node id is the same after a restart).
      if (status.error_code() == grpc::StatusCode::NOT_FOUND && !reregistered && node_id_ == node_id) {
        // Same as a NOT_FOUND heartbeat: the session thread registers again, then the stream reopens.
        node_id_.clear();
      }
    }
    if (reregistered) continue;
    absl::Duration delay = backoff.Next();
    absl::Status error = FromGrpcStatus(status);
    LogWarning(FailureMessage(error.code(), "assignment stream ended; reconnecting"),
               {{"node_id", node_id},
                {"controlplane_error", error.ToString()},
                {"credential", CredentialSource()},
                {"retry_in", absl::FormatDuration(absl::Trunc(delay, absl::Milliseconds(1)))}});
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&watch_stopping_), delay);
  }
}

void Agent::EnqueueReport(const ReplicaStatus& status) {
  absl::MutexLock lock(&mu_);
  for (ReplicaStatus& pending : pending_reports_) {
    if (pending.replica_id() == status.replica_id()) {
      pending = status;
      return;
    }
  }
  pending_reports_.push_back(status);
}

void Agent::RunReports() {
  for (;;) {
    std::string node_id;
    ReplicaStatus status;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (!pending_reports_.empty() && !node_id_.empty());
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      node_id = node_id_;
      status = pending_reports_.front();
      pending_reports_.erase(pending_reports_.begin());
      report_in_flight_ = true;
    }
    dedicated::v1::ReportReplicaStatusRequest req;
    req.set_node_id(node_id);
    *req.mutable_status() = status;
    dedicated::v1::ReportReplicaStatusResponse resp;
    grpc::ClientContext ctx;
    BeginCall(&ctx);
    grpc::Status result = stub_->ReportReplicaStatus(&ctx, req, &resp);
    EndCall(&ctx);
    if (!result.ok()) {
      // Not retried: the next heartbeat carries the same state.
      absl::Status error = FromGrpcStatus(result);
      LogWarning(FailureMessage(error.code(), "status report failed; the next heartbeat repeats it"),
                 {{"node_id", node_id},
                  {"replica_id", status.replica_id()},
                  {"state", ReplicaStatus::State_Name(status.state())},
                  {"controlplane_error", error.ToString()}});
    }
    absl::MutexLock lock(&mu_);
    report_in_flight_ = false;
  }
}

}  // namespace dedicated::node_agent
