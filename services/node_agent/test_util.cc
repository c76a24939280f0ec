#include "services/node_agent/test_util.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace dedicated::node_agent::testing {

using ::dedicated::v1::EngineCommand;
using ::dedicated::v1::ReplicaAssignment;
using ::dedicated::v1::ReplicaStatus;

std::string BinDir() { return std::filesystem::read_symlink("/proc/self/exe").parent_path().string(); }

std::string FakeEnginePath() { return BinDir() + "/fake_engine"; }

std::string NewTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("node_agent_", getpid(), "_", counter++, "_", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  // "pid (comm) S ...": the state follows the last ')'.
  size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  return line[paren + 2] != 'Z' && line[paren + 2] != 'X';
}

pid_t ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

EngineCommand FakeEngineCommand(const std::vector<std::string>& extra) {
  EngineCommand command;
  command.set_engine_kind("test");
  command.add_argv(FakeEnginePath());
  for (const char* arg : {"--host", "{host}", "--port", "{port}"}) command.add_argv(arg);
  for (const std::string& arg : extra) command.add_argv(arg);
  command.set_readiness_path("/health");
  return command;
}

ReplicaAssignment Replica(const std::string& replica_id, std::vector<int64_t> gpus, std::vector<EngineCommand> commands,
                          ReplicaAssignment::DesiredState desired) {
  ReplicaAssignment a;
  a.set_replica_id(replica_id);
  a.set_instance_id("inst-1");
  a.set_model_id("gemma-3-4b-it");
  a.set_configuration("S");
  for (int64_t gpu : gpus) a.add_gpu_indices(gpu);
  a.set_desired_state(desired);
  for (EngineCommand& c : commands) *a.add_engine_commands() = std::move(c);
  return a;
}

void StatusLog::Add(const ReplicaStatus& status) {
  absl::MutexLock lock(&mu_);
  statuses_.push_back(status);
}

std::vector<ReplicaStatus> StatusLog::All() const {
  absl::MutexLock lock(&mu_);
  return statuses_;
}

std::vector<ReplicaStatus::State> StatusLog::States(const std::string& replica_id) const {
  absl::MutexLock lock(&mu_);
  std::vector<ReplicaStatus::State> out;
  for (const ReplicaStatus& s : statuses_) {
    if (s.replica_id() == replica_id) out.push_back(s.state());
  }
  return out;
}

bool StatusLog::Find(const std::string& replica_id, ReplicaStatus::State state, ReplicaStatus* out) const {
  absl::MutexLock lock(&mu_);
  for (auto it = statuses_.rbegin(); it != statuses_.rend(); ++it) {
    if (it->replica_id() == replica_id && it->state() == state) {
      if (out != nullptr) *out = *it;
      return true;
    }
  }
  return false;
}

bool StatusLog::WaitFor(const std::string& replica_id, ReplicaStatus::State state, absl::Duration timeout,
                        ReplicaStatus* out) const {
  return WaitUntil([&] { return Find(replica_id, state, out); }, timeout);
}

absl::StatusOr<pid_t> RecordingLauncher::Launch(const LaunchSpec& spec) {
  {
    absl::MutexLock lock(&mu_);
    specs_.push_back(spec);
  }
  return real_.Launch(spec);
}

std::vector<LaunchSpec> RecordingLauncher::specs() const {
  absl::MutexLock lock(&mu_);
  return specs_;
}

}  // namespace dedicated::node_agent::testing

namespace dedicated::node_agent::testing {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string HttpGetRaw(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "";
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

}  // namespace dedicated::node_agent::testing
