// engine-sim: SIMULATES a GPU inference engine (no model, no GPU; the text is synthetic). See README.md.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/flags.h"
#include "services/common/log.h"
#include "services/common/shutdown.h"
#include "services/engine_sim/options.h"
#include "services/engine_sim/server.h"

int main(int argc, char** argv) {
  // Before any thread exists, so that SIGTERM/SIGINT reach WaitForShutdownSignal below.
  dedicated::BlockShutdownSignals();

  dedicated::engine_sim::FlagValues values;
  dedicated::FlagSet flags(dedicated::engine_sim::kUsage);
  dedicated::engine_sim::RegisterFlags(flags, values);
  if (absl::Status s = flags.Parse(dedicated::ArgsFrom(argc, argv)); !s.ok()) {
    std::fprintf(stderr, "engine-sim: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (!flags.positional().empty()) {
    std::fprintf(stderr, "engine-sim: unexpected argument \"%s\" (see --help)\n",
                 flags.positional()[0].c_str());
    return 2;
  }
  if (!dedicated::ConfigureLogging("engine-sim", values.log_level)) {
    std::fprintf(stderr, "engine-sim: --log-level: unknown level \"%s\"\n", values.log_level.c_str());
    return 2;
  }
  absl::StatusOr<dedicated::engine_sim::Options> options = dedicated::engine_sim::ToOptions(values);
  if (!options.ok()) {
    std::fprintf(stderr, "engine-sim: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }

  dedicated::engine_sim::EngineSimServer server(*std::move(options));
  if (absl::Status s = server.Start(); !s.ok()) {
    dedicated::LogError("engine-sim failed to start", {{"error", std::string(s.message())}});
    return 1;
  }
  // The same facts on stdout, alone and flushed, so that a parent process reading the pipe learns the
  // bound port (with --port 0) without sifting through logs.
  nlohmann::ordered_json listening;
  listening["msg"] = "engine-sim listening";
  listening["host"] = server.host();
  listening["port"] = absl::StrCat(server.port());
  std::fputs((listening.dump() + "\n").c_str(), stdout);
  std::fflush(stdout);

  int signal = dedicated::WaitForShutdownSignal();
  dedicated::LogInfo("engine-sim shutting down", {{"signal", absl::StrCat(signal)}});
  server.Stop();
  return 0;
}
