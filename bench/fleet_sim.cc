// fleet_sim: N node-agents in one process, simulated cheaply over the real NodeService (issue 4 bench).
//
// Each simulated node speaks the protocol of services/node_agent/agent.cc: Register (by name, so a rerun
// gets the same ids), one WatchAssignments stream, ReportReplicaStatus for every change, and heartbeats
// carrying every replica's state at the interval the controlplane asks for. There are no engines: a
// replica assigned RUNNING is reported READY (with a made-up endpoint) as soon as its snapshot arrives,
// and one assigned STOPPED (or unassigned) is reported STOPPED at once. Every call carries the node-agent
// credential written by `controlplane bootstrap --node-key-file`.
//
// Everything runs on gRPC's callback API: the streams and calls of all nodes share gRPC's own threads,
// plus one timer thread that issues heartbeats and reopens broken streams, so 1000 nodes are cheap.
//
//   fleet_sim --target 127.0.0.1:50051 --node-key-file node.key --nodes 1000 --gpus 8:500,16:500
//             --ready-file /tmp/fleet.ready
//
// It runs until SIGTERM/SIGINT, then prints one JSON line of counters on stdout. --ready-file is written
// once every node is registered and has received its first assignment snapshot.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dedicated/v1/node_service.grpc.pb.h"
#include "services/common/flags.h"
#include "services/common/shutdown.h"

namespace dedicated::bench {
namespace {

using v1::Assignments;
using v1::NodeService;
using v1::ReplicaAssignment;
using v1::ReplicaStatus;

constexpr char kUsage[] = R"(Usage: fleet_sim --target HOST:PORT --node-key-file PATH [flags]
Simulates --nodes node-agents over the real NodeService: Register, WatchAssignments, status reports,
heartbeats. A replica assigned RUNNING is reported READY at once (no engine), one assigned STOPPED or
unassigned is reported STOPPED at once. Runs until SIGTERM/SIGINT, then prints counters as JSON.

--gpus "COUNT:NODES,..." gives the fleet's shape, e.g. "8:500,16:500" = 500 nodes with 8 GPUs and 500
with 16; the node counts must add up to --nodes. Nodes are named <prefix>-<i> (a rerun on the same
database gets the same node ids back).)";

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string node_key_file;
  int64_t nodes = 1000;
  std::string gpus = "8:500,16:500";
  std::string gpu_type = "H100-80GB";
  std::string name_prefix = "sim";
  int64_t channels = 8;
  int64_t register_concurrency = 32;
  std::string ready_file;
  absl::Duration rpc_timeout = absl::Seconds(10);
  std::string authorization;  // "Api-Key <secret>", never printed
};

using Clock = std::chrono::steady_clock;

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string Describe(const grpc::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())), ": ", s.error_message());
}

// Counters of the whole fleet, printed at the end and every --stats seconds.
struct Stats {
  std::atomic<int64_t> registered{0}, register_failed{0};
  std::atomic<int64_t> streams_opened{0}, streams_ended{0}, snapshots{0};
  std::atomic<int64_t> reports_ready{0}, reports_stopped{0}, reports_failed{0};
  std::atomic<int64_t> heartbeats{0}, heartbeats_failed{0};
  std::atomic<int64_t> first_snapshots{0};
  absl::Mutex mu;
  std::string first_error ABSL_GUARDED_BY(mu);

  void Error(const std::string& what, const grpc::Status& s) {
    absl::MutexLock lock(&mu);
    if (first_error.empty()) first_error = absl::StrCat(what, ": ", Describe(s));
  }
  nlohmann::json Json() {
    absl::MutexLock lock(&mu);
    return {{"registered", registered.load()},           {"register_failed", register_failed.load()},
            {"streams_opened", streams_opened.load()},   {"streams_ended", streams_ended.load()},
            {"snapshots", snapshots.load()},             {"reports_ready", reports_ready.load()},
            {"reports_stopped", reports_stopped.load()}, {"reports_failed", reports_failed.load()},
            {"heartbeats", heartbeats.load()},           {"heartbeats_failed", heartbeats_failed.load()},
            {"first_error", first_error}};
  }
};

class Fleet;

// One simulated node-agent. Its state is guarded by mu_; gRPC callbacks of its calls and the timer
// thread take turns on it.
class SimNode {
 public:
  SimNode(Fleet* fleet, int index, std::string name, int gpus, NodeService::Stub* stub)
      : fleet_(fleet), index_(index), name_(std::move(name)), gpus_(gpus), stub_(stub) {}

  // Starts registration; `done(ok)` is called from a gRPC thread.
  void Register(std::function<void(bool)> done);
  // Timer-thread tick: heartbeat when due, reopen a broken stream when due.
  void Tick(Clock::time_point now);
  void Shutdown();
  bool has_snapshot() const {
    absl::MutexLock lock(&mu_);
    return first_snapshot_seen_;
  }

 private:
  class Watch;

  void OpenWatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnSnapshot(const Assignments& snapshot);
  void OnWatchDone(const grpc::Status& status);
  void EnqueueLocked(const ReplicaStatus& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendNextReportLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendHeartbeatLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Authorize(grpc::ClientContext* ctx) const;

  Fleet* fleet_;
  const int index_;
  const std::string name_;
  const int gpus_;
  NodeService::Stub* stub_;
  int next_port_ = 20000;

  mutable absl::Mutex mu_;
  std::string node_id_ ABSL_GUARDED_BY(mu_);
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(2);
  Clock::time_point next_heartbeat_ ABSL_GUARDED_BY(mu_);
  bool heartbeat_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // What this node "runs": replica id -> the state it reports.
  std::map<std::string, ReplicaStatus> replicas_ ABSL_GUARDED_BY(mu_);
  std::deque<ReplicaStatus> pending_reports_ ABSL_GUARDED_BY(mu_);
  bool report_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  Watch* watch_ ABSL_GUARDED_BY(mu_) = nullptr;  // owned by itself; deletes itself in OnDone
  bool watch_wanted_ ABSL_GUARDED_BY(mu_) = false;
  Clock::time_point reopen_watch_at_ ABSL_GUARDED_BY(mu_);
  bool first_snapshot_seen_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

class Fleet {
 public:
  Fleet(const Options& o, Stats* stats) : o_(o), stats_(stats) {}
  const Options& options() const { return o_; }
  Stats& stats() { return *stats_; }

 private:
  const Options& o_;
  Stats* stats_;
};

// The assignment stream of one node: reads until the stream ends, then tells the node.
class SimNode::Watch final : public grpc::ClientReadReactor<Assignments> {
 public:
  explicit Watch(SimNode* node) : node_(node) {}
  void Start(NodeService::Stub* stub, const std::string& node_id) {
    req_.set_node_id(node_id);
    node_->Authorize(&ctx_);
    ctx_.set_wait_for_ready(true);
    stub->async()->WatchAssignments(&ctx_, &req_, this);
    StartRead(&snapshot_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    node_->OnSnapshot(snapshot_);
    StartRead(&snapshot_);
  }
  void OnDone(const grpc::Status& s) override {
    node_->OnWatchDone(s);
    delete this;
  }

 private:
  SimNode* node_;
  grpc::ClientContext ctx_;
  v1::WatchAssignmentsRequest req_;
  Assignments snapshot_;
};

void SimNode::Authorize(grpc::ClientContext* ctx) const {
  if (!fleet_->options().authorization.empty()) ctx->AddMetadata("authorization", fleet_->options().authorization);
}

void SimNode::Register(std::function<void(bool)> done) {
  struct Call {
    grpc::ClientContext ctx;
    v1::RegisterNodeRequest req;
    v1::RegisterNodeResponse resp;
  };
  auto* call = new Call;
  call->req.set_name(name_);
  call->req.set_gpu_type(fleet_->options().gpu_type);
  call->req.set_gpu_count(gpus_);
  call->req.set_gpu_memory_bytes(int64_t{80} << 30);
  call->req.set_agent_version("fleet_sim");
  call->req.set_address(absl::StrCat("10.", (index_ >> 16) & 255, ".", (index_ >> 8) & 255, ".", index_ & 255));
  call->req.set_engine_kind("engine-sim");
  (*call->req.mutable_labels())["simulated"] = "true";
  Authorize(&call->ctx);
  call->ctx.set_deadline(Deadline(fleet_->options().rpc_timeout));
  call->ctx.set_wait_for_ready(true);
  stub_->async()->Register(&call->ctx, &call->req, &call->resp, [this, call, done](grpc::Status s) {
    std::unique_ptr<Call> owned(call);
    if (!s.ok() || owned->resp.node_id().empty()) {
      ++fleet_->stats().register_failed;
      fleet_->stats().Error(absl::StrCat("register ", name_), s);
      done(false);
      return;
    }
    ++fleet_->stats().registered;
    {
      absl::MutexLock lock(&mu_);
      node_id_ = owned->resp.node_id();
      if (owned->resp.has_heartbeat_interval()) {
        heartbeat_interval_ = std::clamp(FromProto(owned->resp.heartbeat_interval()), absl::Milliseconds(50),
                                         absl::Minutes(5));
      }
      // Spread the fleet's heartbeats over one interval instead of sending them in bursts.
      next_heartbeat_ = Clock::now() + absl::ToChronoNanoseconds(heartbeat_interval_ * ((index_ % 997) / 997.0));
      watch_wanted_ = true;
      OpenWatchLocked();
    }
    done(true);
  });
}

void SimNode::OpenWatchLocked() {
  if (shutting_down_ || watch_ != nullptr || node_id_.empty()) return;
  watch_ = new Watch(this);
  ++fleet_->stats().streams_opened;
  watch_->Start(stub_, node_id_);
}

void SimNode::OnWatchDone(const grpc::Status& status) {
  ++fleet_->stats().streams_ended;
  absl::MutexLock lock(&mu_);
  watch_ = nullptr;
  if (shutting_down_) return;
  fleet_->stats().Error(absl::StrCat("assignment stream of ", name_), status);
  reopen_watch_at_ = Clock::now() + std::chrono::seconds(1);
}

void SimNode::OnSnapshot(const Assignments& snapshot) {
  ++fleet_->stats().snapshots;
  absl::MutexLock lock(&mu_);
  if (!first_snapshot_seen_) {
    first_snapshot_seen_ = true;
    ++fleet_->stats().first_snapshots;
  }
  std::map<std::string, const ReplicaAssignment*> desired;
  for (const ReplicaAssignment& a : snapshot.replicas()) desired[a.replica_id()] = &a;
  // Replicas the controlplane no longer lists are gone: forget them (after saying STOPPED once).
  for (auto it = replicas_.begin(); it != replicas_.end();) {
    if (desired.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.state() != ReplicaStatus::STOPPED) {
      it->second.set_state(ReplicaStatus::STOPPED);
      it->second.clear_endpoint();
      EnqueueLocked(it->second);
    }
    it = replicas_.erase(it);
  }
  for (const auto& [id, a] : desired) {
    auto it = replicas_.find(id);
    if (a->desired_state() == ReplicaAssignment::RUNNING) {
      if (it != replicas_.end() && it->second.state() == ReplicaStatus::READY) continue;
      ReplicaStatus s;
      s.set_replica_id(id);
      s.set_state(ReplicaStatus::READY);
      s.set_endpoint(absl::StrCat("10.", (index_ >> 16) & 255, ".", (index_ >> 8) & 255, ".", index_ & 255, ":",
                                  next_port_++));
      replicas_[id] = s;
      EnqueueLocked(s);
    } else if (it == replicas_.end() || it->second.state() != ReplicaStatus::STOPPED) {
      ReplicaStatus s;
      s.set_replica_id(id);
      s.set_state(ReplicaStatus::STOPPED);
      replicas_[id] = s;
      EnqueueLocked(s);
    }
  }
}

// One report in flight per node, newest state per replica: as the real agent's report thread.
void SimNode::EnqueueLocked(const ReplicaStatus& status) {
  bool replaced = false;
  for (ReplicaStatus& p : pending_reports_) {
    if (p.replica_id() == status.replica_id()) {
      p = status;
      replaced = true;
    }
  }
  if (!replaced) pending_reports_.push_back(status);
  if (!report_in_flight_) SendNextReportLocked();
}

void SimNode::SendNextReportLocked() {
  if (pending_reports_.empty() || shutting_down_ || node_id_.empty()) return;
  struct Call {
    grpc::ClientContext ctx;
    v1::ReportReplicaStatusRequest req;
    v1::ReportReplicaStatusResponse resp;
  };
  auto* call = new Call;
  call->req.set_node_id(node_id_);
  *call->req.mutable_status() = pending_reports_.front();
  pending_reports_.pop_front();
  report_in_flight_ = true;
  Authorize(&call->ctx);
  call->ctx.set_deadline(Deadline(fleet_->options().rpc_timeout));
  call->ctx.set_wait_for_ready(true);
  stub_->async()->ReportReplicaStatus(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status s) {
    std::unique_ptr<Call> owned(call);
    if (s.ok()) {
      ++(owned->req.status().state() == ReplicaStatus::READY ? fleet_->stats().reports_ready
                                                             : fleet_->stats().reports_stopped);
    } else {
      // Not retried, as in the agent: the next heartbeat carries the same state.
      ++fleet_->stats().reports_failed;
      fleet_->stats().Error(absl::StrCat("report of ", name_), s);
    }
    absl::MutexLock lock(&mu_);
    report_in_flight_ = false;
    SendNextReportLocked();
  });
}

void SimNode::SendHeartbeatLocked() {
  struct Call {
    grpc::ClientContext ctx;
    v1::HeartbeatRequest req;
    v1::HeartbeatResponse resp;
    std::vector<std::string> stopped;
  };
  auto* call = new Call;
  call->req.set_node_id(node_id_);
  for (const auto& [id, s] : replicas_) {
    *call->req.add_replicas() = s;
    if (s.state() == ReplicaStatus::STOPPED) call->stopped.push_back(id);
  }
  heartbeat_in_flight_ = true;
  Authorize(&call->ctx);
  call->ctx.set_deadline(Deadline(fleet_->options().rpc_timeout));
  call->ctx.set_wait_for_ready(true);
  stub_->async()->Heartbeat(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status s) {
    std::unique_ptr<Call> owned(call);
    absl::MutexLock lock(&mu_);
    heartbeat_in_flight_ = false;
    if (!s.ok()) {
      ++fleet_->stats().heartbeats_failed;
      fleet_->stats().Error(absl::StrCat("heartbeat of ", name_), s);
      return;
    }
    ++fleet_->stats().heartbeats;
    if (owned->resp.has_heartbeat_interval()) {
      heartbeat_interval_ =
          std::clamp(FromProto(owned->resp.heartbeat_interval()), absl::Milliseconds(50), absl::Minutes(5));
    }
    // Unassigned replicas are forgotten once a heartbeat carried their STOPPED state (as the agent does).
    for (const std::string& id : owned->stopped) {
      auto it = replicas_.find(id);
      if (it != replicas_.end() && it->second.state() == ReplicaStatus::STOPPED) replicas_.erase(it);
    }
  });
}

void SimNode::Tick(Clock::time_point now) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_ || node_id_.empty()) return;
  if (watch_ == nullptr && watch_wanted_ && now >= reopen_watch_at_) OpenWatchLocked();
  if (!heartbeat_in_flight_ && now >= next_heartbeat_) {
    next_heartbeat_ = now + absl::ToChronoNanoseconds(heartbeat_interval_);
    SendHeartbeatLocked();
  }
}

// Stops heartbeats, reports and stream reopening; the process exits right after, streams and all.
void SimNode::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
}

absl::StatusOr<std::vector<int>> ParseGpuMix(const Options& o) {
  std::vector<int> gpus;
  for (absl::string_view part : absl::StrSplit(o.gpus, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(part, ':');
    int count, nodes;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[0], &count) || !absl::SimpleAtoi(kv[1], &nodes) || count < 1 ||
        count > 1024 || nodes < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--gpus: expected COUNT:NODES,... got \"", part, "\""));
    }
    for (int i = 0; i < nodes; ++i) gpus.push_back(count);
  }
  if (static_cast<int64_t>(gpus.size()) != o.nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gpus gives ", gpus.size(), " nodes, --nodes says ", o.nodes));
  }
  // Interleave the shapes so that node names (the placement's tie-break order) do not group them.
  std::vector<int> mixed(gpus.size());
  for (size_t i = 0, stride = 7919; i < gpus.size(); ++i) mixed[(i * stride) % gpus.size()] = gpus[i];
  if (gpus.size() % 7919 == 0) mixed = gpus;
  return mixed;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int Run(const Options& o) {
  absl::StatusOr<std::vector<int>> shape = ParseGpuMix(o);
  if (!shape.ok()) {
    std::cerr << "fleet_sim: " << shape.status().message() << "\n";
    return 2;
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<NodeService::Stub>> stubs;
  for (int64_t i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("dedicated.bench.channel", static_cast<int>(i));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    channels.push_back(grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(NodeService::NewStub(channels.back()));
  }
  Stats stats;
  Fleet fleet(o, &stats);
  std::vector<std::unique_ptr<SimNode>> nodes;
  int64_t total_gpus = 0;
  for (int64_t i = 0; i < o.nodes; ++i) {
    int gpus = (*shape)[i];
    total_gpus += gpus;
    nodes.push_back(std::make_unique<SimNode>(&fleet, static_cast<int>(i), absl::StrCat(o.name_prefix, "-", i), gpus,
                                              stubs[i % o.channels].get()));
  }
  std::cerr << "fleet_sim: " << o.nodes << " nodes, " << total_gpus << " " << o.gpu_type << " GPUs, "
            << o.channels << " channels to " << o.target << "\n";

  // Register with a bounded number of calls in flight; a failed registration is retried.
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  {
    absl::Mutex mu;
    int in_flight = 0;
    int64_t next = 0, done_ok = 0;
    std::deque<int64_t> retry;
    absl::Time give_up = absl::Now() + absl::Minutes(2);
    absl::MutexLock lock(&mu);
    while (done_ok < o.nodes) {
      auto can_issue = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return in_flight < o.register_concurrency && (next < o.nodes || !retry.empty());
      };
      auto progress = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return can_issue() || done_ok == o.nodes; };
      if (!mu.AwaitWithDeadline(absl::Condition(&progress), give_up)) {
        std::cerr << "fleet_sim: registration did not finish within 2 minutes: " << stats.Json().dump() << "\n";
        std::_Exit(1);  // calls in flight still refer to this frame
      }
      while (can_issue()) {
        int64_t i;
        if (!retry.empty()) {
          i = retry.front();
          retry.pop_front();
        } else {
          i = next++;
        }
        ++in_flight;
        mu.Unlock();
        nodes[i]->Register([&, i](bool ok) {
          absl::MutexLock l(&mu);
          --in_flight;
          if (ok) {
            ++done_ok;
          } else {
            retry.push_back(i);
          }
        });
        mu.Lock();
      }
    }
  }
  std::cerr << "fleet_sim: " << o.nodes << " nodes registered in "
            << absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1))) << "\n";

  // The timer thread: heartbeats and stream reopening for every node, 50 times a second.
  std::atomic<bool> stop{false};
  std::thread timer([&] {
    while (!stop.load()) {
      Clock::time_point now = Clock::now();
      for (auto& n : nodes) n->Tick(now);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  // Ready once every node has its first snapshot.
  absl::Time ready_deadline = absl::Now() + absl::Minutes(2);
  while (stats.first_snapshots.load() < o.nodes && absl::Now() < ready_deadline) absl::SleepFor(absl::Milliseconds(20));
  if (stats.first_snapshots.load() < o.nodes) {
    std::cerr << "fleet_sim: only " << stats.first_snapshots.load() << " of " << o.nodes
              << " nodes got an assignment snapshot within 2 minutes\n";
  } else {
    std::cerr << "fleet_sim: all " << o.nodes << " assignment streams open after "
              << absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1))) << "\n";
    if (!o.ready_file.empty()) {
      std::ofstream(o.ready_file) << absl::StrCat(o.nodes, " ", total_gpus, "\n");
    }
  }

  int sig = WaitForShutdownSignal();
  (void)sig;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  const double cpu = CpuSeconds() - cpu0;
  stop = true;
  timer.join();
  for (auto& n : nodes) n->Shutdown();
  nlohmann::json j = stats.Json();
  j["nodes"] = o.nodes;
  j["gpus"] = total_gpus;
  j["seconds"] = std::round(seconds * 10) / 10;
  j["cpu_cores"] = std::round(cpu / std::max(seconds, 1e-9) * 100) / 100;
  std::cout << j.dump() << std::endl;
  // The streams' reactors would need a drain; the process is done, so leave without destructors.
  std::_Exit(0);
}

}  // namespace
}  // namespace dedicated::bench

int main(int argc, char** argv) {
  using dedicated::bench::Options;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  dedicated::BlockShutdownSignals();
  Options o;
  dedicated::FlagSet flags(dedicated::bench::kUsage);
  flags.String("target", "", &o.target, "controlplane gRPC address (host:port)");
  flags.String("node-key-file", "DI_NODE_KEY_FILE", &o.node_key_file,
               "node-agent credential (written by `controlplane bootstrap --node-key-file`)");
  flags.Int("nodes", "", &o.nodes, "simulated nodes");
  flags.String("gpus", "", &o.gpus, "fleet shape: GPUS_PER_NODE:NODES,... (node counts add up to --nodes)");
  flags.String("gpu-type", "", &o.gpu_type, "GPU type of every node (the catalog's configurations use H100-80GB)");
  flags.String("name-prefix", "", &o.name_prefix, "nodes are named <prefix>-<i>");
  flags.Int("channels", "", &o.channels, "gRPC connections the nodes are spread over");
  flags.Int("register-concurrency", "", &o.register_concurrency, "Register calls in flight at start");
  flags.String("ready-file", "", &o.ready_file, "written once every node has its first assignment snapshot");
  flags.Duration("rpc-timeout", "", &o.rpc_timeout, "deadline of each unary call");
  if (absl::Status s = flags.Parse(dedicated::ArgsFrom(argc, argv)); !s.ok()) {
    std::cerr << "fleet_sim: " << s.message() << "\n";
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  if (o.nodes < 1 || o.nodes > 100000 || o.channels < 1 || o.channels > 256 || o.register_concurrency < 1) {
    std::cerr << "fleet_sim: --nodes 1..100000, --channels 1..256, --register-concurrency >= 1\n";
    return 2;
  }
  if (!o.node_key_file.empty()) {
    std::ifstream in(o.node_key_file);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string secret(absl::StripAsciiWhitespace(data));
    if (secret.empty()) {
      std::cerr << "fleet_sim: --node-key-file " << o.node_key_file << ": cannot read it or it is empty\n";
      return 2;
    }
    o.authorization = absl::StrCat("Api-Key ", secret);
  }
  return dedicated::bench::Run(o);
}
