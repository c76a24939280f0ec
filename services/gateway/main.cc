// gateway: the OpenAI-compatible data plane (see server.h and --help).

#include <prometheus/exposer.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/flags.h"
#include "services/common/log.h"
#include "services/common/secret_file.h"
#include "services/common/shutdown.h"
#include "services/gateway/controlplane_watch.h"
#include "services/gateway/metrics.h"
#include "services/gateway/options.h"
#include "services/gateway/server.h"
#include "services/iam/snapshot.h"

namespace {

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "gateway: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dedicated;
  using namespace dedicated::gateway;
  // Before any thread exists, so that SIGTERM/SIGINT reach WaitForShutdownSignal.
  BlockShutdownSignals();
#ifdef NDEBUG
  // Debian builds Abseil with absl::Mutex deadlock detection on: every Lock updates a global lock-order
  // graph (it showed in the gateway's profile under load). Release builds skip it; Debug builds and the
  // tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  Options options;
  FlagSet flags(kUsage);
  RegisterFlags(flags, options);
  if (absl::Status s = flags.Parse(ArgsFrom(argc, argv)); !s.ok()) return Fail(std::string(s.message()), 2);
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (!flags.positional().empty()) return Fail(absl::StrCat("unexpected argument \"", flags.positional()[0], "\""), 2);
  if (!ConfigureLogging("gateway", options.log_level)) return Fail("--log-level: unknown level", 2);
  if (absl::Status s = Validate(options); !s.ok()) return Fail(std::string(s.message()), 2);
  auto file = ReadSecretFile(options.gateway_key_file);
  if (!file.ok()) return Fail(absl::StrCat("--gateway-key-file ", options.gateway_key_file, ": ", file.status().message()), 2);
  auto credential = CleanSecret(file->contents, absl::StrCat("--gateway-key-file ", options.gateway_key_file),
                                "gateway credential");
  if (!credential.ok()) return Fail(std::string(credential.status().message()), 2);

  Metrics metrics;
  GatewayServer server(options, &metrics);
  ControlplaneWatch watch(
      options.controlplane, *credential,
      ControlplaneWatch::Callbacks{
          [&server](const v1::AccessSnapshot& proto) { server.SetAccessSnapshot(iam::IamSnapshot::FromProto(proto)); },
          [&server](const v1::RouteTable& table) { server.router().Update(table, absl::Now()); },
          [&metrics](const std::string& stream, bool connected) { metrics.SetControlplaneConnected(stream, connected); },
      });
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!options.metrics_listen.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(options.metrics_listen);
      exposer->RegisterCollectable(metrics.registry());
    } catch (const std::exception& e) {
      LogError("gateway: cannot serve metrics", {{"address", options.metrics_listen}, {"error", e.what()}});
      return 1;
    }
  }
  if (absl::Status s = server.Start(); !s.ok()) {
    LogError("gateway failed to start", {{"error", std::string(s.message())}});
    return 1;
  }
  watch.Start();
  LogInfo("gateway serving", {{"listen", options.listen},
                              {"port", absl::StrCat(server.port())},
                              {"metrics", options.metrics_listen},
                              {"controlplane", options.controlplane}});
  int signal = WaitForShutdownSignal();
  LogInfo("gateway shutting down", {{"signal", absl::StrCat(signal)}});
  server.Stop();
  watch.Stop();
  LogInfo("gateway stopped");
  return 0;
}
