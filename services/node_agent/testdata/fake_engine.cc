// A stand-in for an inference engine in node-agent tests: listens on --host/--port, answers GET /health
// with 503 until --ready-after-ms has passed and 200 afterwards, exits 0 on SIGTERM. It can be told to
// crash (--crash-after-ms, --exit-code), to ignore SIGTERM (--ignore-sigterm), and to start a child in
// its process group that ignores SIGTERM (--spawn-child), which is what a stop must still clean up.
// Deliberately dependency-free so that it starts in milliseconds.

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace {

volatile sig_atomic_t g_terminate = 0;

void OnSigterm(int) { g_terminate = 1; }

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int Listen(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return -1;
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  return fd;
}

void Serve(int client, bool ready) {
  char buf[2048];
  std::string request;
  pollfd p{client, POLLIN, 0};
  while (request.find("\r\n\r\n") == std::string::npos && poll(&p, 1, 1000) > 0) {
    ssize_t n = read(client, buf, sizeof(buf));
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  const bool health = request.rfind("GET /health ", 0) == 0;
  const char* response = !health ? "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                         : ready ? "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
                                 : "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
  ssize_t ignored = write(client, response, strlen(response));
  (void)ignored;
  close(client);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", port, pid_file, child_pid_file;
  long long ready_after_ms = 0, crash_after_ms = -1;
  int exit_code = 1;
  bool ignore_sigterm = false, spawn_child = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fake_engine: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--host")
      host = next();
    else if (a == "--port")
      port = next();
    else if (a == "--ready-after-ms")
      ready_after_ms = std::atoll(next().c_str());
    else if (a == "--crash-after-ms")
      crash_after_ms = std::atoll(next().c_str());
    else if (a == "--exit-code")
      exit_code = std::atoi(next().c_str());
    else if (a == "--ignore-sigterm")
      ignore_sigterm = true;
    else if (a == "--spawn-child")
      spawn_child = true;
    else if (a == "--pid-file")
      pid_file = next();
    else if (a == "--child-pid-file")
      child_pid_file = next();
    else {
      std::fprintf(stderr, "fake_engine: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  const char* cuda = std::getenv("CUDA_VISIBLE_DEVICES");
  std::printf("fake_engine: pid %d port %s\nCUDA_VISIBLE_DEVICES=%s\n", getpid(), port.c_str(),
              cuda ? cuda : "<unset>");
  std::fflush(stdout);
  if (!pid_file.empty()) std::ofstream(pid_file) << getpid() << "\n";

  if (spawn_child) {
    pid_t child = fork();
    if (child == 0) {
      signal(SIGTERM, SIG_IGN);
      for (;;) pause();
    }
    if (!child_pid_file.empty()) std::ofstream(child_pid_file) << child << "\n";
  }

  struct sigaction sa {};
  sa.sa_handler = ignore_sigterm ? SIG_IGN : OnSigterm;
  sigaction(SIGTERM, &sa, nullptr);

  int listener = Listen(host, port);
  if (listener < 0) {
    std::fprintf(stderr, "fake_engine: cannot listen on %s:%s: %s\n", host.c_str(), port.c_str(), strerror(errno));
    return 2;
  }
  const long long start = NowMs();
  for (;;) {
    if (g_terminate) {
      std::fprintf(stderr, "fake_engine: SIGTERM, exiting\n");
      return 0;
    }
    const long long elapsed = NowMs() - start;
    if (crash_after_ms >= 0 && elapsed >= crash_after_ms) {
      std::fprintf(stderr, "fake_engine: crashing as asked\n");
      std::_Exit(exit_code);
    }
    pollfd p{listener, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) Serve(client, elapsed >= ready_after_ms);
    }
  }
}
