// Runs the engine-sim binary itself: the stdout line other components parse, --help, SIGTERM.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "services/engine_sim/http_test_client.h"

extern char** environ;

namespace dedicated::engine_sim {
namespace {

using std::chrono::milliseconds;

// The binary under test; the build passes its path.
constexpr const char* kBinary = ENGINE_SIM_BINARY;

struct Child {
  pid_t pid = -1;
  int stdout_fd = -1;
};

Child Spawn(std::vector<std::string> args) {
  args.insert(args.begin(), kBinary);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  Child child;
  int rc = posix_spawn(&child.pid, kBinary, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return {};
  }
  child.stdout_fd = out[0];
  return child;
}

// Reads stdout until `stop` (a newline, or EOF when '\0') or the timeout.
std::string ReadStdout(int fd, char stop, milliseconds timeout) {
  std::string data;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (stop != '\0' && data.find(stop) != std::string::npos) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

// Exit status, or -1 if the child is still running after the timeout (it is then killed).
int WaitExit(pid_t pid, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

TEST(EngineSimMainTest, PrintsOnlyTheListeningLineAndStopsOnSigterm) {
  Child child = Spawn({"--port", "0", "--served-model-name", "m", "--log-level", "error"});
  ASSERT_GT(child.pid, 0);
  std::string line = ReadStdout(child.stdout_fd, '\n', milliseconds(3000));
  ASSERT_FALSE(line.empty()) << "no listening line on stdout";
  nlohmann::json listening = nlohmann::json::parse(line);
  EXPECT_EQ(listening["msg"], "engine-sim listening");
  EXPECT_EQ(listening["host"], "127.0.0.1");
  int port = std::stoi(listening["port"].get<std::string>());
  EXPECT_GT(port, 0);

  testing::HttpResult health = testing::Fetch(port, boost::beast::http::verb::get, "/health");
  EXPECT_EQ(health.status, 200) << health.error;

  ASSERT_EQ(kill(child.pid, SIGTERM), 0);
  EXPECT_EQ(WaitExit(child.pid, milliseconds(3000)), 0);
  EXPECT_EQ(ReadStdout(child.stdout_fd, '\0', milliseconds(500)), "") << "stdout must hold only the one line";
  close(child.stdout_fd);
}

TEST(EngineSimMainTest, HelpSaysItIsASimulator) {
  Child child = Spawn({"--help"});
  ASSERT_GT(child.pid, 0);
  std::string help = ReadStdout(child.stdout_fd, '\0', milliseconds(3000));
  EXPECT_EQ(WaitExit(child.pid, milliseconds(3000)), 0);
  close(child.stdout_fd);
  EXPECT_NE(help.find("SIMULATES a GPU inference engine"), std::string::npos) << help;
  EXPECT_NE(help.find("--served-model-name"), std::string::npos);
}

TEST(EngineSimMainTest, BadFlagExitsWithUsageError) {
  Child child = Spawn({"--max-concurrency", "0"});
  ASSERT_GT(child.pid, 0);
  EXPECT_EQ(WaitExit(child.pid, milliseconds(3000)), 2);
  close(child.stdout_fd);
}

}  // namespace
}  // namespace dedicated::engine_sim
