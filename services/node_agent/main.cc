// node-agent: one per GPU node. Registers the node with the controlplane, runs the engines assigned to
// it and reports their state. See README.md.

#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "services/common/flags.h"
#include "services/common/log.h"
#include "services/common/shutdown.h"
#include "services/node_agent/agent.h"
#include "services/node_agent/credentials.h"
#include "services/node_agent/engine_record_store.h"
#include "services/node_agent/engine_supervisor.h"
#include "services/node_agent/metrics.h"
#include "services/node_agent/port_allocator.h"
#include "services/node_agent/process_launcher.h"

namespace dedicated::node_agent {
namespace {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "node";
  return buf;
}

int Main(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the blocked mask.
  BlockShutdownSignals();

  std::string controlplane = "127.0.0.1:50051";
  std::string name = Hostname();
  int64_t gpus = 8;
  std::string gpu_type = "H100-80GB";
  int64_t gpu_memory_gb = 80;
  std::string labels_text;
  std::string address = "127.0.0.1";
  std::string engine_kind = "engine-sim";
  std::string engine_sim = SiblingExecutable("engine-sim");
  std::string port_range_text = "20000-29999";
  std::string metrics_listen = "127.0.0.1:9466";
  absl::Duration readiness_timeout = absl::Minutes(10);
  absl::Duration stop_grace = absl::Seconds(10);
  std::string log_dir;
  std::string state_dir;
  bool keep_engines_on_exit = false;
  std::string log_level = "info";
  std::string node_key_file;

  FlagSet flags(
      "node-agent [flags]\n"
      "Registers this GPU node with the controlplane, starts the engines assigned to it, probes their\n"
      "readiness and reports their state.\n"
      "SIGINT stops all engines, then exits. SIGTERM does the same, unless --keep-engines-on-exit: then the\n"
      "agent exits and leaves its engines serving, and the next agent started with the same --state-dir\n"
      "adopts them (or stops those no longer assigned). Engines recorded in --state-dir are adopted or\n"
      "stopped at start in either mode, so an engine that outlived a killed agent is managed again from\n"
      "the next start on.");
  flags.String("controlplane", "DI_CONTROLPLANE_ENDPOINT", &controlplane, "controlplane gRPC endpoint (host:port)");
  flags.String("name", "DI_NODE_NAME", &name, "stable node name (default: the hostname)");
  flags.Int("gpus", "DI_NODE_GPUS", &gpus, "number of GPUs of this node");
  flags.String("gpu-type", "DI_NODE_GPU_TYPE", &gpu_type, "GPU type, as the catalog names it");
  flags.Int("gpu-memory-gb", "DI_NODE_GPU_MEMORY_GB", &gpu_memory_gb, "memory per GPU in GiB");
  flags.String("labels", "DI_NODE_LABELS", &labels_text, "node labels, k=v,k2=v2");
  flags.String("address", "DI_NODE_ADDRESS", &address,
               "host engines bind to and are reported at; must be reachable from the gateway");
  flags.String("engine-kind", "DI_ENGINE_KIND", &engine_kind,
               "which engine command of an assignment to run (engine-sim, vllm)");
  flags.String("engine-sim", "DI_ENGINE_SIM_PATH", &engine_sim,
               "engine-sim executable for {engine_sim} (default: next to node-agent, else PATH)");
  flags.String("port-range", "DI_NODE_PORT_RANGE", &port_range_text, "TCP ports for engines, FIRST-LAST");
  flags.String("metrics-listen", "DI_NODE_METRICS_ADDRESS", &metrics_listen,
               "Prometheus /metrics address; empty: no metrics endpoint");
  flags.Duration("readiness-timeout", "DI_NODE_READINESS_TIMEOUT", &readiness_timeout,
                 "an engine not ready after this long is killed and reported FAILED");
  flags.Duration("stop-grace", "DI_NODE_STOP_GRACE", &stop_grace, "time between SIGTERM and SIGKILL when stopping");
  flags.String("log-dir", "DI_NODE_LOG_DIR", &log_dir,
               "directory of the engines' logs, one file per replica (default: /tmp/di-node-<name>)");
  flags.String("state-dir", "DI_NODE_STATE_DIR", &state_dir,
               "directory of the engine records (pid, start time, port, GPUs, command) that let a restarted "
               "agent adopt its engines; one agent per directory (default: <log-dir>/state)");
  flags.Bool("keep-engines-on-exit", "DI_NODE_KEEP_ENGINES_ON_EXIT", &keep_engines_on_exit,
             "on SIGTERM (systemd stop/restart) exit and leave the engines serving for the next agent to "
             "adopt, instead of stopping them; engines then also outlive a kill -9 (no parent-death signal) "
             "until the next agent adopts or stops them. SIGINT always stops them. Under systemd use "
             "KillMode=process with it");
  flags.String("log-level", "DI_LOG_LEVEL", &log_level, "debug, info, warning or error");
  flags.String("node-key-file", kNodeKeyFileEnv, &node_key_file,
               "file holding the node credential (written by `controlplane bootstrap --node-key-file`), sent "
               "as 'authorization: Api-Key <key>' on every call; $DI_NODE_KEY (the key itself) takes precedence");

  if (absl::Status s = flags.Parse(ArgsFrom(argc, argv)); !s.ok()) {
    std::cerr << "node-agent: " << s.message() << "\n\n" << flags.Help();
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  auto usage_error = [](std::string_view message) {
    std::cerr << "node-agent: " << message << "\n";
    return 2;
  };
  if (!flags.positional().empty()) return usage_error("unexpected argument " + flags.positional()[0]);
  if (!ConfigureLogging("node-agent", log_level)) return usage_error("--log-level: unknown level " + log_level);
  if (name.empty()) return usage_error("--name must not be empty");
  if (gpus < 0) return usage_error("--gpus must be >= 0");
  if (gpu_memory_gb < 0) return usage_error("--gpu-memory-gb must be >= 0");
  if (readiness_timeout <= absl::ZeroDuration()) return usage_error("--readiness-timeout must be positive");
  if (stop_grace < absl::ZeroDuration()) return usage_error("--stop-grace must not be negative");
  absl::StatusOr<std::map<std::string, std::string>> labels = ParseLabels(labels_text);
  if (!labels.ok()) return usage_error(std::string(labels.status().message()));
  absl::StatusOr<PortRange> port_range = ParsePortRange(port_range_text);
  if (!port_range.ok()) return usage_error(std::string(port_range.status().message()));
  if (log_dir.empty()) log_dir = absl::StrCat("/tmp/di-node-", name);
  if (state_dir.empty()) state_dir = log_dir + "/state";

  // Taken out of the environment before any engine starts: engines inherit the agent's environment and
  // must not hold the node's credential.
  const char* env_key = std::getenv(kNodeKeyEnv);
  const std::string env_secret = env_key == nullptr ? "" : env_key;
  unsetenv(kNodeKeyEnv);
  absl::StatusOr<NodeCredential> credential = LoadNodeCredential(env_secret, node_key_file);
  if (!credential.ok()) return usage_error(std::string(credential.status().message()));
  if (credential->secret.empty()) {
    LogWarning(
        "no node credential: calls to the controlplane carry no authorization header, and a controlplane "
        "that enforces authentication refuses them",
        {{"hint", "pass --node-key-file (or set DI_NODE_KEY_FILE or DI_NODE_KEY)"}});
  } else if (!env_secret.empty() && !node_key_file.empty()) {
    LogInfo("node credential from $DI_NODE_KEY; --node-key-file is not read", {{"node_key_file", node_key_file}});
  }

  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(*registry, gpus);
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!metrics_listen.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
    } catch (const std::exception& e) {
      LogError("cannot serve metrics", {{"address", metrics_listen}, {"error", e.what()}});
      return 1;
    }
    exposer->RegisterCollectable(registry);
  }

  // After everything else that can fail at start: from here on the agent owns the recorded engines.
  absl::StatusOr<std::unique_ptr<EngineRecordStore>> records = EngineRecordStore::Open(state_dir);
  if (!records.ok()) {
    LogError("cannot use the state directory", {{"error", records.status().ToString()}});
    return 1;
  }

  AgentOptions options;
  options.name = name;
  options.gpu_type = gpu_type;
  options.gpu_count = gpus;
  options.gpu_memory_bytes = gpu_memory_gb << 30;
  options.labels = *labels;
  options.address = address;
  options.engine_kind = engine_kind;
  options.credential = credential->secret;
  options.credential_source = credential->source;

  SupervisorOptions supervisor_options;
  supervisor_options.engine_kind = engine_kind;
  supervisor_options.host = address;
  supervisor_options.engine_sim_path = engine_sim;
  supervisor_options.log_dir = log_dir;
  supervisor_options.gpu_count = gpus;
  supervisor_options.readiness_timeout = readiness_timeout;
  supervisor_options.stop_grace = stop_grace;
  supervisor_options.engines_outlive_agent = keep_engines_on_exit;

  PosixProcessLauncher launcher;
  PortAllocator ports(address, *port_range);
  Agent agent(options, supervisor_options, MakeControlplaneChannel(controlplane), &launcher, &ports, &metrics,
              records->get());
  LogInfo("node-agent starting", {{"name", name},
                                  {"controlplane", controlplane},
                                  {"gpus", absl::StrCat(gpus)},
                                  {"gpu_type", gpu_type},
                                  {"engine_kind", engine_kind},
                                  {"engine_sim", engine_sim},
                                  {"address", address},
                                  {"log_dir", log_dir},
                                  {"state_dir", state_dir},
                                  {"keep_engines_on_exit", keep_engines_on_exit ? "true" : "false"},
                                  {"metrics", metrics_listen},
                                  {"credential", credential->secret.empty() ? "none" : credential->source},
                                  {"version", kAgentVersion}});
  agent.Start();
  int sig = WaitForShutdownSignal();
  // SIGTERM is what systemd sends for a stop or restart (an upgrade): with --keep-engines-on-exit the
  // engines keep serving through it. SIGINT (Ctrl-C, or `systemctl kill -s INT`) always stops them, so an
  // operator can still take a node's engines down with the agent.
  const bool keep = keep_engines_on_exit && sig == SIGTERM;
  LogInfo(keep ? "shutting down: leaving engines running for the next node-agent" : "shutting down: stopping engines",
          {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  agent.Shutdown(keep ? Agent::ShutdownMode::kKeepEngines : Agent::ShutdownMode::kStopEngines);
  LogInfo("node-agent stopped");
  return 0;
}

}  // namespace
}  // namespace dedicated::node_agent

int main(int argc, char** argv) { return dedicated::node_agent::Main(argc, argv); }
