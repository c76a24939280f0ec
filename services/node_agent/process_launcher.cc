#include "services/node_agent/process_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace dedicated::node_agent {
namespace {

// The child reports a failure before exec through this pipe: which step failed and errno.
struct ChildError {
  int step;
  int err;
};
constexpr const char* kSteps[] = {"setpgid", "prctl", "dup2", "execve"};

// Moves fd above 2 so that the child's dup2 onto 0-2 cannot clobber it (an agent started with a closed
// stdin would otherwise get one of these as fd 0).
int AboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

void ChildFail(int pipe_fd, int step) {
  ChildError e{step, errno};
  ssize_t ignored = write(pipe_fd, &e, sizeof(e));
  (void)ignored;
  _exit(127);
}

}  // namespace

absl::StatusOr<std::string> ResolveExecutable(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("empty argv[0]");
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("executable ", name, ": ", std::strerror(errno)));
    }
    return name;
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/local/bin:/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("executable ", name, " not found in PATH"));
}

std::string SiblingExecutable(const std::string& name) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path sibling = self.parent_path() / name;
    if (access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  return name;
}

absl::StatusOr<pid_t> PosixProcessLauncher::Launch(const LaunchSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("empty argv");
  absl::StatusOr<std::string> exe = ResolveExecutable(spec.argv[0]);
  if (!exe.ok()) return exe.status();

  // Everything the child needs is prepared here: between fork and exec only async-signal-safe calls are
  // allowed (other threads may hold the allocator's locks).
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    env_map[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : spec.env) env_map[k] = v;
  std::vector<std::string> env_strings;
  env_strings.reserve(env_map.size());
  for (const auto& [k, v] : env_map) env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = spec.argv;
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int log_fd = open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open log ", spec.log_path, ": ", std::strerror(errno)));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    int err = errno;
    close(log_fd);
    return absl::InternalError(absl::StrCat("open /dev/null: ", std::strerror(err)));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    int err = errno;
    close(log_fd);
    close(null_fd);
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(err)));
  }
  log_fd = AboveStdio(log_fd);
  null_fd = AboveStdio(null_fd);
  pipe_fds[0] = AboveStdio(pipe_fds[0]);
  pipe_fds[1] = AboveStdio(pipe_fds[1]);
  // The parent's go-ahead for exec when before_exec is set: one byte, or EOF if the parent gave up.
  int go_fds[2] = {-1, -1};
  if (spec.before_exec && pipe2(go_fds, O_CLOEXEC) != 0) {
    int err = errno;
    close(log_fd);
    close(null_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(err)));
  }
  go_fds[0] = AboveStdio(go_fds[0]);
  go_fds[1] = AboveStdio(go_fds[1]);
  const pid_t parent = getpid();
  const int death_signal = spec.parent_death_signal;

  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    if (setpgid(0, 0) != 0) ChildFail(pipe_fds[1], 0);
    if (death_signal != 0) {
      if (prctl(PR_SET_PDEATHSIG, death_signal) != 0) ChildFail(pipe_fds[1], 1);
      // The agent may have died between fork and prctl; then no signal will ever come.
      if (getppid() != parent) _exit(127);
    }
    if (go_fds[0] >= 0) {
      close(go_fds[1]);
      char go = 0;
      ssize_t n;
      do {
        n = read(go_fds[0], &go, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) _exit(127);  // the parent failed to record us or died: never run unrecorded
      close(go_fds[0]);
    }
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) ChildFail(pipe_fds[1], 2);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Leave only 0-2 and the error pipe (close-on-exec) open: the agent's sockets must not leak into
    // engines. close_range exists since Linux 5.9; older kernels keep relying on O_CLOEXEC.
    const unsigned keep = static_cast<unsigned>(pipe_fds[1]);
    if (keep > 3) syscall(SYS_close_range, 3u, keep - 1, 0u);
    syscall(SYS_close_range, keep + 1, ~0u, 0u);
    execve(exe->c_str(), argv.data(), envp.data());
    ChildFail(pipe_fds[1], 3);
  }
  int fork_errno = errno;
  close(pipe_fds[1]);
  close(log_fd);
  close(null_fd);
  if (go_fds[0] >= 0) close(go_fds[0]);
  if (pid < 0) {
    close(pipe_fds[0]);
    if (go_fds[1] >= 0) close(go_fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(fork_errno)));
  }
  if (spec.before_exec) {
    absl::Status before = spec.before_exec(pid);
    if (before.ok()) {
      char go = 1;
      if (write(go_fds[1], &go, 1) != 1) before = absl::InternalError("cannot release the child to exec");
    }
    close(go_fds[1]);
    if (!before.ok()) {
      // The child exits on EOF by itself; SIGKILL makes sure, then it is reaped here.
      kill(pid, SIGKILL);
      close(pipe_fds[0]);
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return before;
    }
  }
  // EOF on the pipe means exec succeeded (the write end was close-on-exec).
  ChildError child_error{};
  ssize_t n;
  do {
    n = read(pipe_fds[0], &child_error, sizeof(child_error));
  } while (n < 0 && errno == EINTR);
  close(pipe_fds[0]);
  if (n == static_cast<ssize_t>(sizeof(child_error))) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return absl::FailedPreconditionError(
        absl::StrCat(kSteps[child_error.step], " ", *exe, ": ", std::strerror(child_error.err)));
  }
  return pid;
}

}  // namespace dedicated::node_agent
