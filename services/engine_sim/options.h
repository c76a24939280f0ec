#pragma once
// engine-sim configuration: flags (each also an environment variable DI_ENGINE_SIM_<NAME>) and the
// validated, typed options the server runs with.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/flags.h"

namespace dedicated::engine_sim {

// What the server runs with. Tests build one directly; main() gets one from flags.
struct Options {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: the OS picks a free port; EngineSimServer::port() tells which.
  // The names the server answers to; the first is the one responses report as "model".
  std::vector<std::string> served_model_names = {"engine-sim"};
  int64_t max_concurrency = 8;
  int64_t context_length = 32768;
  absl::Duration ttft = absl::Milliseconds(100);
  absl::Duration inter_token = absl::Milliseconds(20);
  // Inter-token latency is multiplied by 1 + slowdown * (running generations - 1).
  double slowdown = 0.05;
  absl::Duration startup_delay = absl::ZeroDuration();
  int64_t default_max_tokens = 16;
  int threads = 2;
  // How long SIGTERM waits for in-flight responses before closing what is left.
  absl::Duration shutdown_grace = absl::Seconds(5);
};

absl::Status ValidateOptions(const Options& options);

// Flag values as FlagSet fills them; ToOptions() turns them into validated Options.
struct FlagValues {
  std::string host = "127.0.0.1";
  int64_t port = 8000;
  std::string served_model_name = "engine-sim";
  int64_t max_concurrency = 8;
  int64_t context_length = 32768;
  int64_t ttft_ms = 100;
  int64_t inter_token_ms = 20;
  std::string slowdown = "0.05";  // FlagSet has no floating-point flags.
  absl::Duration startup_delay = absl::ZeroDuration();
  int64_t default_max_tokens = 16;
  int64_t threads = 2;
  absl::Duration shutdown_grace = absl::Seconds(5);
  std::string log_level = "info";
};

// The --help text; it says plainly that this is a simulator.
extern const char kUsage[];

void RegisterFlags(FlagSet& flags, FlagValues& values);
absl::StatusOr<Options> ToOptions(const FlagValues& values);

}  // namespace dedicated::engine_sim
