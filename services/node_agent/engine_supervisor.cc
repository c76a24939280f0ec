#include "services/node_agent/engine_supervisor.h"

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/common/log.h"
#include "services/node_agent/command_template.h"
#include "services/node_agent/process_identity.h"
#include "services/node_agent/readiness_probe.h"

namespace dedicated::node_agent {
namespace {

using ::dedicated::node_agent::v1::EngineRecord;
using ::dedicated::v1::Assignments;
using ::dedicated::v1::ReplicaAssignment;
using ::dedicated::v1::ReplicaStatus;

constexpr int kLogTailLines = 10;
constexpr size_t kLogTailBytes = 4096;

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal ", sig);
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by ", SignalName(WTERMSIG(status)));
  return absl::StrCat("wait status ", status);
}

enum class ProcessState { kRunning, kExited, kGone };

// kExited: the process ended and is a zombie, not yet reaped, so its pid (also its process group id)
// cannot be reused while we still signal the group. kGone: it is not our child any more (someone else
// reaped it), so nothing may be signalled under that pid.
ProcessState Probe(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == EINTR ? ProcessState::kRunning : ProcessState::kGone;
  }
  return info.si_pid == pid ? ProcessState::kExited : ProcessState::kRunning;
}

// Kills what is left of the group (e.g. tensor-parallel workers of a dead vLLM) and reaps the leader.
std::string ReapGroup(pid_t pid, ProcessState state) {
  if (state == ProcessState::kGone) return "exit status unknown (reaped elsewhere)";
  kill(-pid, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) return "exit status unknown";
  return DescribeWaitStatus(status);
}

std::string SafeFileName(absl::string_view id) {
  std::string out(id);
  for (char& c : out) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') c = '_';
  }
  if (out.empty() || out[0] == '.') out.insert(0, "_");
  return out;
}

// The last lines the engine wrote since `offset` (this run only), for FAILED messages.
std::string LogTail(const std::string& path, std::uintmax_t offset) {
  std::error_code ec;
  std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size <= offset) return "";
  std::uintmax_t start = std::max<std::uintmax_t>(offset, size > kLogTailBytes ? size - kLogTailBytes : 0);
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(start));
  std::string data(static_cast<size_t>(size - start), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  std::vector<absl::string_view> lines = absl::StrSplit(data, '\n', absl::SkipWhitespace());
  // A cut through the middle of a line is noise.
  if (start > offset && !lines.empty()) lines.erase(lines.begin());
  if (lines.size() > kLogTailLines) lines.erase(lines.begin(), lines.end() - kLogTailLines);
  return absl::StrJoin(lines, "\n");
}

std::string WithLogTail(std::string message, const std::string& log_path, std::uintmax_t offset) {
  std::string tail = LogTail(log_path, offset);
  if (!tail.empty()) absl::StrAppend(&message, "; last log lines:\n", tail);
  return message;
}

bool WantsRunning(const ReplicaAssignment* a) {
  return a != nullptr && a->desired_state() == ReplicaAssignment::RUNNING;
}

const char* StateLabel(ReplicaStatus::State state) {
  switch (state) {
    case ReplicaStatus::STARTING: return "starting";
    case ReplicaStatus::READY: return "ready";
    case ReplicaStatus::FAILED: return "failed";
    case ReplicaStatus::STOPPED: return "stopped";
    default: return "unknown";
  }
}

}  // namespace

class EngineProcess {
 public:
  virtual ~EngineProcess() = default;
  // True once the process has exited.
  virtual bool Exited() = 0;
  // After Exited(): cleans up (reaps) and says how it ended.
  virtual std::string Collect() = 0;
  // SIGTERM to the group, SIGKILL after `grace`; returns once the process is gone, saying how it ended.
  virtual std::string Terminate(absl::Duration grace) = 0;
};

namespace {

// A child of this agent: waited for with waitid, so its exit status is known, and reaped only here.
class ChildProcess final : public EngineProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  bool Exited() override {
    state_ = Probe(pid_);
    return state_ != ProcessState::kRunning;
  }
  std::string Collect() override { return ReapGroup(pid_, state_); }
  std::string Terminate(absl::Duration grace) override {
    kill(-pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + grace;
    ProcessState state = Probe(pid_);
    while (state == ProcessState::kRunning && absl::Now() < deadline) {
      absl::SleepFor(std::min(absl::Milliseconds(50), deadline - absl::Now()));
      state = Probe(pid_);
    }
    if (state == ProcessState::kRunning) {
      LogWarning("engine ignored SIGTERM, killing",
                 {{"pid", absl::StrCat(pid_)}, {"grace", absl::FormatDuration(grace)}});
    }
    // Still running after the grace period: ReapGroup's SIGKILL ends it.
    return ReapGroup(pid_, state == ProcessState::kGone ? state : ProcessState::kExited);
  }

 private:
  const pid_t pid_;
  ProcessState state_ = ProcessState::kRunning;
};

// An engine started by a previous agent. Its parent is init (or a subreaper), which reaps it, so its exit
// status is unknown; the pidfd says when it has exited. The group is signalled only after the pidfd says
// the leader still runs: a running leader holds its pid, so the group id cannot name anything else.
// (What is left of the group after the leader exited is not signalled: with the leader reaped elsewhere,
// its id could be reused.)
class AdoptedProcess final : public EngineProcess {
 public:
  AdoptedProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  ~AdoptedProcess() override { close(pidfd_); }
  bool Exited() override { return WaitForExit(pidfd_, absl::ZeroDuration()); }
  std::string Collect() override { return "exit status unknown (adopted engine: not a child of this agent)"; }
  std::string Terminate(absl::Duration grace) override {
    Signal(SIGTERM);
    if (WaitForExit(pidfd_, grace)) return "exited after SIGTERM (adopted engine: exit status unknown)";
    LogWarning("engine ignored SIGTERM, killing",
               {{"pid", absl::StrCat(pid_)}, {"grace", absl::FormatDuration(grace)}});
    Signal(SIGKILL);
    if (!WaitForExit(pidfd_, absl::Seconds(10))) {
      LogError("adopted engine survived SIGKILL", {{"pid", absl::StrCat(pid_)}});
      return "still running after SIGKILL";
    }
    return "killed by SIGKILL after the grace period";
  }

 private:
  void Signal(int sig) {
    if (Exited()) return;
    // The leader may have left its group (setpgid); then at least the leader itself gets the signal.
    if (kill(-pid_, sig) != 0) syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
  }

  const pid_t pid_;
  const int pidfd_;
};

}  // namespace

EngineSupervisor::EngineSupervisor(SupervisorOptions options, ProcessLauncher* launcher, PortAllocator* ports,
                                   Metrics* metrics, StatusCallback on_status, EngineRecordStore* records)
    : options_(std::move(options)),
      launcher_(launcher),
      ports_(ports),
      metrics_(metrics),
      on_status_(std::move(on_status)),
      records_(records) {
  std::error_code ec;
  std::filesystem::create_directories(options_.log_dir, ec);
  if (ec) LogError("cannot create engine log directory", {{"dir", options_.log_dir}, {"error", ec.message()}});
}

EngineSupervisor::~EngineSupervisor() {
  StopAll();
  absl::MutexLock lock(&mu_);
  for (auto& [id, engine] : engines_) RetireThreadLocked(engine.get());
  for (std::thread& t : retired_threads_) t.join();
  retired_threads_.clear();
}

ReplicaStatus EngineSupervisor::ToStatus(const Engine& engine) {
  ReplicaStatus status;
  status.set_replica_id(engine.replica_id);
  status.set_state(engine.state);
  if (engine.state == ReplicaStatus::READY) status.set_endpoint(engine.endpoint);
  status.set_message(engine.message);
  return status;
}

void EngineSupervisor::Reconcile(const Assignments& snapshot) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    last_snapshot_ = snapshot;
    ApplyLocked();
  }
  JoinRetiredThreads();
}

void EngineSupervisor::ApplyLocked() {
  if (!last_snapshot_.has_value() || shutting_down_) return;
  std::map<std::string, const ReplicaAssignment*> desired;
  for (const ReplicaAssignment& a : last_snapshot_->replicas()) desired[a.replica_id()] = &a;

  // Stops first, so that their GPUs count as "being released" for the starts below.
  for (auto& [id, engine] : engines_) {
    auto it = desired.find(id);
    const ReplicaAssignment* a = it == desired.end() ? nullptr : it->second;
    engine->assigned = a != nullptr;
    if (WantsRunning(a)) continue;
    if (!engine->finished) {
      if (!engine->stop_requested) {
        engine->stop_requested = true;
        LogInfo("stopping engine", {{"replica_id", id}, {"reason", a == nullptr ? "unassigned" : "desired STOPPED"}});
      }
    } else if (engine->state != ReplicaStatus::STOPPED) {
      SetStateLocked(engine.get(), ReplicaStatus::STOPPED,
                     engine->state == ReplicaStatus::FAILED ? "stopped after failure: " + engine->message : "");
    }
  }

  // GPUs held by live processes, and whether their holder is on its way out.
  std::map<int64_t, const Engine*> gpu_holder;
  for (auto& [id, engine] : engines_) {
    if (engine->finished) continue;
    for (int64_t gpu : engine->assignment.gpu_indices()) gpu_holder[gpu] = engine.get();
  }

  for (const ReplicaAssignment& a : last_snapshot_->replicas()) {
    auto existing = engines_.find(a.replica_id());
    if (!WantsRunning(&a)) {
      if (existing == engines_.end()) {
        // Never ran here (e.g. the agent restarted): say so, so that the controlplane sees STOPPED.
        auto engine = std::make_unique<Engine>();
        engine->replica_id = a.replica_id();
        engine->assignment = a;
        Engine* raw = engine.get();
        engines_[a.replica_id()] = std::move(engine);
        SetStateLocked(raw, ReplicaStatus::STOPPED, "");
      }
      continue;
    }
    if (existing != engines_.end()) {
      Engine* engine = existing->second.get();
      // Running, starting, or still stopping (it restarts once reaped: FinishLocked re-applies).
      if (!engine->finished) continue;
      // The agent does not restart a failed engine on its own; see Reconcile().
      if (engine->state == ReplicaStatus::FAILED) continue;
      RetireThreadLocked(engine);
      engines_.erase(existing);
    }
    bool wait_for_gpus = false;
    std::string conflict;
    for (int64_t gpu : a.gpu_indices()) {
      auto holder = gpu_holder.find(gpu);
      if (holder == gpu_holder.end()) continue;
      if (holder->second->stop_requested) {
        wait_for_gpus = true;
      } else {
        conflict = absl::StrCat("GPU ", gpu, " is in use by replica ", holder->second->replica_id);
      }
    }
    if (!conflict.empty()) {
      auto engine = std::make_unique<Engine>();
      engine->replica_id = a.replica_id();
      engine->assignment = a;
      FailWithoutProcessLocked(std::move(engine), conflict);
      continue;
    }
    if (wait_for_gpus) {
      LogInfo("start waits for GPUs of a stopping engine", {{"replica_id", a.replica_id()}});
      continue;
    }
    StartLocked(a);
    const Engine* started = engines_[a.replica_id()].get();
    if (!started->finished) {
      for (int64_t gpu : a.gpu_indices()) gpu_holder[gpu] = started;
    }
  }
  UpdateMetricsLocked();
}

void EngineSupervisor::FailWithoutProcessLocked(std::unique_ptr<Engine> engine, std::string message) {
  LogWarning("engine not started", {{"replica_id", engine->replica_id}, {"error", message}});
  Engine* raw = engine.get();
  engines_[engine->replica_id] = std::move(engine);
  SetStateLocked(raw, ReplicaStatus::FAILED, std::move(message));
}

void EngineSupervisor::StartLocked(const ReplicaAssignment& assignment) {
  auto engine = std::make_unique<Engine>();
  engine->replica_id = assignment.replica_id();
  engine->assignment = assignment;

  const dedicated::v1::EngineCommand* command = nullptr;
  for (const auto& c : assignment.engine_commands()) {
    if (c.engine_kind() == options_.engine_kind) command = &c;
  }
  if (command == nullptr) {
    return FailWithoutProcessLocked(std::move(engine),
                                    absl::StrCat("no engine command for kind ", options_.engine_kind));
  }
  for (int64_t gpu : assignment.gpu_indices()) {
    if (gpu < 0 || gpu >= options_.gpu_count) {
      return FailWithoutProcessLocked(
          std::move(engine), absl::StrCat("GPU index ", gpu, " out of range: node has ", options_.gpu_count, " GPUs"));
    }
  }
  absl::StatusOr<int> port = ports_->Allocate();
  if (!port.ok()) return FailWithoutProcessLocked(std::move(engine), std::string(port.status().message()));
  TemplateValues values;
  values.host = options_.host;
  values.port = *port;
  values.gpu_indices.assign(assignment.gpu_indices().begin(), assignment.gpu_indices().end());
  values.engine_sim = options_.engine_sim_path;
  absl::StatusOr<std::vector<std::string>> argv =
      SubstituteArgv(std::vector<std::string>(command->argv().begin(), command->argv().end()), values);
  if (!argv.ok()) {
    ports_->Release(*port);
    return FailWithoutProcessLocked(std::move(engine), std::string(argv.status().message()));
  }
  if (argv->empty()) {
    ports_->Release(*port);
    return FailWithoutProcessLocked(std::move(engine), "engine command has an empty argv");
  }

  LaunchSpec spec;
  spec.argv = AdaptArgvForEngine(options_.engine_kind, *std::move(argv));
  spec.env.emplace_back("CUDA_VISIBLE_DEVICES", JoinGpuIds(values.gpu_indices));
  spec.log_path = LogPathOf(assignment.replica_id());
  spec.parent_death_signal = options_.engines_outlive_agent ? 0 : SIGTERM;

  engine->port = *port;
  engine->endpoint = absl::StrCat(options_.host, ":", *port);
  engine->state = ReplicaStatus::STARTING;
  engine->message = "launching";
  engine->finished = false;

  RunState run;
  run.readiness_path = command->readiness_path();
  run.probe_host = ProbeHostFor(options_.host);
  run.port = *port;
  run.log_path = spec.log_path;
  EngineRecord& record = run.record;
  record.set_replica_id(assignment.replica_id());
  record.set_port(*port);
  record.set_endpoint(engine->endpoint);
  for (int64_t gpu : assignment.gpu_indices()) record.add_gpu_indices(gpu);
  for (const std::string& arg : spec.argv) record.add_argv(arg);
  record.set_readiness_path(command->readiness_path());
  record.set_log_path(spec.log_path);
  *record.mutable_assignment() = assignment;

  Engine* raw = engine.get();
  engines_[assignment.replica_id()] = std::move(engine);
  raw->thread = std::thread(&EngineSupervisor::RunEngine, this, raw, std::move(spec), std::move(run));
}

void EngineSupervisor::SetStateLocked(Engine* engine, ReplicaStatus::State state, std::string message) {
  engine->state = state;
  engine->message = std::move(message);
  LogInfo("replica state", {{"replica_id", engine->replica_id},
                            {"state", ReplicaStatus::State_Name(state)},
                            {"endpoint", state == ReplicaStatus::READY ? engine->endpoint : ""},
                            {"message", engine->message}});
  UpdateMetricsLocked();
  if (on_status_) on_status_(ToStatus(*engine));
}

void EngineSupervisor::EndRunLocked(Engine* engine, ReplicaStatus::State state, std::string message) {
  // The record goes first: once STOPPED/FAILED is reported, nothing of this run is left to adopt. And
  // before FinishLocked, which may start the replica again under a new record.
  if (records_ != nullptr) records_->Remove(engine->replica_id);
  SetStateLocked(engine, state, std::move(message));
  FinishLocked(engine);
}

void EngineSupervisor::FinishLocked(Engine* engine) {
  if (engine->port != 0) ports_->Release(engine->port);
  engine->port = 0;
  engine->pid = 0;
  engine->finished = true;
  // May erase `engine` (a replica wanted RUNNING again restarts under a fresh record).
  ApplyLocked();
  UpdateMetricsLocked();
}

void EngineSupervisor::UpdateMetricsLocked() {
  if (metrics_ == nullptr) return;
  std::map<std::string, int64_t> counts;
  int64_t gpus_used = 0;
  for (const auto& [id, engine] : engines_) {
    if (!engine->finished) gpus_used += engine->assignment.gpu_indices_size();
    const char* label = !engine->finished && engine->stop_requested ? "stopping" : StateLabel(engine->state);
    ++counts[label];
  }
  metrics_->SetEngines(counts);
  metrics_->SetGpusUsed(gpus_used);
}

void EngineSupervisor::RetireThreadLocked(Engine* engine) {
  if (engine->thread.joinable()) retired_threads_.push_back(std::move(engine->thread));
}

void EngineSupervisor::JoinRetiredThreads() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(retired_threads_);
  }
  for (std::thread& t : threads) t.join();
}

void EngineSupervisor::RunEngine(Engine* engine, LaunchSpec spec, RunState run) {
  const std::string replica_id = engine->replica_id;
  {
    std::ofstream log(spec.log_path, std::ios::app);
    log << "---- node-agent " << absl::FormatTime(absl::Now()) << ": starting replica " << replica_id << ": "
        << absl::StrJoin(spec.argv, " ") << "\n";
    log.flush();
    std::error_code ec;
    run.log_offset = std::filesystem::file_size(spec.log_path, ec);
  }
  const absl::Time launched_at = absl::Now();
  run.record.set_log_offset(run.log_offset);
  run.record.set_launched_at_unix_ms(absl::ToUnixMillis(launched_at));
  if (records_ != nullptr) {
    // The child waits before exec until its record is on disk, so a crash of the agent at any point
    // leaves no engine that the next agent cannot find.
    spec.before_exec = [this, &run](pid_t pid) -> absl::Status {
      absl::StatusOr<ProcessIdentity> identity = IdentifyProcess(pid);
      if (!identity.ok()) return identity.status();
      run.record.set_pid(pid);
      run.record.set_start_time_ticks(identity->start_time_ticks);
      run.record.set_boot_id(identity->boot_id);
      absl::Status written = records_->Write(run.record);
      if (!written.ok()) return absl::InternalError(absl::StrCat("cannot write engine record: ", written.message()));
      return absl::OkStatus();
    };
  }
  absl::StatusOr<pid_t> launched = launcher_->Launch(spec);
  {
    absl::MutexLock lock(&mu_);
    if (!launched.ok()) {
      EndRunLocked(engine, engine->stop_requested ? ReplicaStatus::STOPPED : ReplicaStatus::FAILED,
                   engine->stop_requested ? "" : absl::StrCat("launch failed: ", launched.status().message()));
      return;
    }
    engine->pid = *launched;
    if (metrics_ != nullptr) metrics_->EngineStarted();
    SetStateLocked(engine, ReplicaStatus::STARTING, absl::StrCat("pid ", *launched));
  }
  run.ready_deadline = launched_at + options_.readiness_timeout;
  ChildProcess process(*launched);
  Monitor(engine, process, std::move(run));
}

void EngineSupervisor::RunAdoptedEngine(Engine* engine, int pidfd, RunState run) {
  AdoptedProcess process(engine->pid, pidfd);
  Monitor(engine, process, std::move(run));
}

void EngineSupervisor::Monitor(Engine* engine, EngineProcess& process, RunState run) {
  const std::string replica_id = engine->replica_id;
  std::string pid;
  {
    absl::MutexLock lock(&mu_);
    pid = absl::StrCat(engine->pid);
  }
  std::string last_probe_error = "no answer yet";

  // Ends the engine's record with its final state; `engine` must not be touched afterwards.
  auto conclude = [&](bool failed, std::string message) {
    absl::MutexLock lock(&mu_);
    // A stop was requested meanwhile: whatever else happened, the outcome the controlplane asked for is
    // STOPPED.
    const bool stopped = !failed || engine->stop_requested;
    if (metrics_ != nullptr) metrics_->EngineExited(stopped ? "stopped" : "failed");
    EndRunLocked(engine, stopped ? ReplicaStatus::STOPPED : ReplicaStatus::FAILED, stopped ? "" : std::move(message));
  };

  for (;;) {
    if (process.Exited()) {
      std::string how = process.Collect();
      LogInfo("engine exited", {{"replica_id", replica_id}, {"pid", pid}, {"how", how}});
      bool requested;
      {
        absl::MutexLock lock(&mu_);
        requested = engine->stop_requested;
      }
      return conclude(
          !requested,
          WithLogTail(
              absl::StrCat(run.ready ? "engine exited unexpectedly: " : "engine exited before becoming ready: ", how),
              run.log_path, run.log_offset));
    }
    bool stop;
    bool detach;
    {
      absl::MutexLock lock(&mu_);
      stop = engine->stop_requested;
      detach = detaching_;
    }
    if (stop) {
      std::string how = process.Terminate(options_.stop_grace);
      LogInfo("engine stopped", {{"replica_id", replica_id}, {"pid", pid}, {"how", how}});
      return conclude(false, "");
    }
    if (detach) {
      // The engine keeps running and keeps its record; the next agent adopts it.
      LogInfo("leaving engine running", {{"replica_id", replica_id}, {"pid", pid}});
      return;
    }
    if (!run.ready) {
      absl::StatusOr<int> code = HttpGetStatus(run.probe_host, run.port, run.readiness_path, options_.probe_timeout);
      if (code.ok() && *code == 200) {
        run.ready = true;
        if (records_ != nullptr && run.record.pid() != 0) {
          // So that after an agent restart an engine that was serving and misses a probe gets a fresh
          // readiness deadline rather than its launch's (see Adopt).
          run.record.set_ready(true);
          if (absl::Status s = records_->Write(run.record); !s.ok()) {
            LogWarning("cannot update engine record", {{"replica_id", replica_id}, {"error", s.ToString()}});
          }
        }
        absl::MutexLock lock(&mu_);
        if (!engine->stop_requested) SetStateLocked(engine, ReplicaStatus::READY, "");
        continue;
      }
      last_probe_error = code.ok() ? absl::StrCat("HTTP ", *code) : std::string(code.status().message());
      if (absl::Now() >= run.ready_deadline) {
        std::string how = process.Terminate(options_.stop_grace);
        return conclude(
            true, WithLogTail(absl::StrCat("engine not ready within ", absl::FormatDuration(options_.readiness_timeout),
                                           " (last probe: ", last_probe_error, "); ", how),
                              run.log_path, run.log_offset));
      }
    }
    absl::MutexLock lock(&mu_);
    auto wake = [this, engine]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return engine->stop_requested || detaching_; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), options_.probe_interval);
  }
}

int EngineSupervisor::Adopt() {
  if (records_ == nullptr) return 0;
  int adopted = 0;
  const std::string probe_host = ProbeHostFor(options_.host);
  for (EngineRecord& record : records_->LoadAll()) {
    const std::string& replica_id = record.replica_id();
    ProcessIdentity identity{static_cast<pid_t>(record.pid()), record.start_time_ticks(), record.boot_id()};
    absl::StatusOr<int> pidfd = OpenProcess(identity);
    if (!pidfd.ok()) {
      // Nothing is signalled: the engine is gone, and its pid may be someone else's now.
      LogInfo("dropping record of an engine that is gone",
              {{"replica_id", replica_id}, {"pid", absl::StrCat(record.pid())}, {"reason", pidfd.status().ToString()}});
      records_->Remove(replica_id);
      continue;
    }
    // Probed before anything is reported, so that an engine that was serving is reported READY straight
    // away instead of going back through STARTING. One that was serving gets a few tries: a busy engine
    // may miss one probe, and STARTING would tell the controlplane it stopped serving.
    const int attempts = record.ready() ? 3 : 1;
    bool healthy = false;
    for (int i = 0; i < attempts && !healthy; ++i) {
      if (i > 0) absl::SleepFor(options_.probe_interval);
      absl::StatusOr<int> code =
          HttpGetStatus(probe_host, record.port(), record.readiness_path(), options_.probe_timeout);
      healthy = code.ok() && *code == 200;
    }

    absl::MutexLock lock(&mu_);
    if (shutting_down_ || engines_.contains(replica_id)) {
      close(*pidfd);
      continue;
    }
    if (record.port() != 0) ports_->Reserve(record.port());
    auto engine = std::make_unique<Engine>();
    engine->replica_id = replica_id;
    engine->assignment = record.assignment();
    engine->assignment.set_replica_id(replica_id);
    engine->assignment.clear_gpu_indices();
    for (int64_t gpu : record.gpu_indices()) engine->assignment.add_gpu_indices(gpu);
    engine->endpoint = record.endpoint();
    engine->pid = identity.pid;
    engine->port = record.port();
    engine->finished = false;

    RunState run;
    run.readiness_path = record.readiness_path();
    run.probe_host = probe_host;
    run.port = record.port();
    run.log_path = record.log_path();
    run.log_offset = record.log_offset();
    run.ready = healthy;
    // Never ready before: the launch's deadline still applies. Ready before but not answering now: a
    // fresh one (it may be busy, or restarting its server).
    run.ready_deadline = record.ready()
                             ? absl::Now() + options_.readiness_timeout
                             : absl::FromUnixMillis(record.launched_at_unix_ms()) + options_.readiness_timeout;
    run.record = record;
    if (healthy && !record.ready()) {
      // Became ready after the previous agent last wrote the record.
      run.record.set_ready(true);
      if (absl::Status s = records_->Write(run.record); !s.ok()) {
        LogWarning("cannot update engine record", {{"replica_id", replica_id}, {"error", s.ToString()}});
      }
    }

    LogInfo("adopted engine", {{"replica_id", replica_id},
                               {"pid", absl::StrCat(identity.pid)},
                               {"endpoint", engine->endpoint},
                               {"gpus", absl::StrJoin(record.gpu_indices(), ",")},
                               {"healthy", healthy ? "yes" : "no"}});
    Engine* raw = engine.get();
    engines_[replica_id] = std::move(engine);
    SetStateLocked(raw, healthy ? ReplicaStatus::READY : ReplicaStatus::STARTING,
                   healthy ? "" : absl::StrCat("adopted pid ", identity.pid));
    raw->thread = std::thread(&EngineSupervisor::RunAdoptedEngine, this, raw, *pidfd, std::move(run));
    ++adopted;
  }
  return adopted;
}

std::vector<ReplicaStatus> EngineSupervisor::Statuses() const {
  absl::MutexLock lock(&mu_);
  std::vector<ReplicaStatus> out;
  out.reserve(engines_.size());
  for (const auto& [id, engine] : engines_) out.push_back(ToStatus(*engine));
  return out;
}

void EngineSupervisor::Forget(const std::vector<std::string>& reported_stopped) {
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& id : reported_stopped) {
      auto it = engines_.find(id);
      if (it == engines_.end()) continue;
      Engine* engine = it->second.get();
      if (engine->assigned || !engine->finished || engine->state != ReplicaStatus::STOPPED) continue;
      RetireThreadLocked(engine);
      engines_.erase(it);
    }
    UpdateMetricsLocked();
  }
  JoinRetiredThreads();
}

void EngineSupervisor::StopAll() {
  {
    absl::MutexLock lock(&mu_);
    if (detaching_) return;
    shutting_down_ = true;
    for (auto& [id, engine] : engines_) {
      if (!engine->finished) engine->stop_requested = true;
    }
    UpdateMetricsLocked();
    auto all_finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& [id, engine] : engines_) {
        if (!engine->finished) return false;
      }
      return true;
    };
    mu_.Await(absl::Condition(&all_finished));
  }
  JoinRetiredThreads();
}

void EngineSupervisor::Detach() {
  if (!options_.engines_outlive_agent) {
    LogWarning("engines die with the agent (parent-death signal): stopping them instead of leaving them running");
    return StopAll();
  }
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    if (detaching_) return;
    shutting_down_ = true;
    detaching_ = true;
    for (auto& [id, engine] : engines_) RetireThreadLocked(engine.get());
    threads.swap(retired_threads_);
  }
  // Each thread returns at its next check (within a probe), or after finishing a stop under way.
  for (std::thread& t : threads) t.join();
  absl::MutexLock lock(&mu_);
  int left = 0;
  for (const auto& [id, engine] : engines_) left += engine->finished ? 0 : 1;
  LogInfo("left engines running for the next node-agent", {{"engines", absl::StrCat(left)}});
}

std::optional<ReplicaStatus> EngineSupervisor::StatusOf(const std::string& replica_id) const {
  absl::MutexLock lock(&mu_);
  auto it = engines_.find(replica_id);
  if (it == engines_.end()) return std::nullopt;
  return ToStatus(*it->second);
}

std::optional<pid_t> EngineSupervisor::PidOf(const std::string& replica_id) const {
  absl::MutexLock lock(&mu_);
  auto it = engines_.find(replica_id);
  if (it == engines_.end() || it->second->pid == 0) return std::nullopt;
  return it->second->pid;
}

std::string EngineSupervisor::LogPathOf(const std::string& replica_id) const {
  return (std::filesystem::path(options_.log_dir) / (SafeFileName(replica_id) + ".log")).string();
}

}  // namespace dedicated::node_agent
