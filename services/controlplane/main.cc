// controlplane: the Dedicated Instances API server. Verbs: serve, migrate, bootstrap. See --help.
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/catalog/catalog.h"
#include "services/common/flags.h"
#include "services/common/log.h"
#include "services/common/secret_file.h"
#include "services/common/shutdown.h"
#include "services/controlplane/bootstrap.h"
#include "services/controlplane/controlplane.h"
#include "services/storage/migrations.h"

namespace dedicated::controlplane {
namespace {

constexpr char kUsage[] = R"(controlplane: the Dedicated Instances control plane (gRPC API, operation workers).

Usage:
  controlplane serve   [flags]   serve the API until SIGTERM/SIGINT
  controlplane migrate [flags]   apply database migrations and exit (safe to run concurrently)
  controlplane bootstrap [flags] first start: default cloud and folder, the admin service account and its
                                 key, node-agent and gateway credentials; keys go to files (mode 0600)

Run `controlplane <verb> --help` for the flags of a verb.
)";

int Fail(const absl::Status& status) {
  std::cerr << "controlplane: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

void AddDatabaseFlag(FlagSet& flags, std::string* url) {
  flags.String("database-url", "DI_DATABASE_URL", url,
               "PostgreSQL connection URI, e.g. postgresql://user@127.0.0.1:5432/dedicated");
}

int Migrate(const std::vector<std::string>& args) {
  std::string url;
  std::string log_level = "info";
  FlagSet flags("Usage: controlplane migrate --database-url URL\nApplies the migrations compiled into this binary.");
  AddDatabaseFlag(flags, &url);
  flags.String("log-level", "DI_LOG_LEVEL", &log_level, "debug, info, warning or error");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  ConfigureLogging("controlplane", log_level);
  if (url.empty()) return Fail(absl::InvalidArgumentError("--database-url (or DI_DATABASE_URL) is required"));
  auto applied = storage::ApplyMigrations(url, storage::EmbeddedMigrations());
  if (!applied.ok()) return Fail(applied.status());
  LogInfo("migrations done", {{"applied", absl::StrCat(*applied)}});
  return 0;
}

int BootstrapVerb(const std::vector<std::string>& args) {
  std::string url, admin_key_file, node_key_file, gateway_key_file, log_level = "info";
  FlagSet flags(
      "Usage: controlplane bootstrap --database-url URL --admin-key-file PATH --node-key-file PATH "
      "--gateway-key-file PATH\n"
      "Applies migrations, then, on a database without an installation admin, creates the default cloud and\n"
      "folder, an admin service account with `admin` on the cloud, and the node-agent and gateway\n"
      "credentials, writing each secret to its file (mode 0600). Prints the ids as JSON on stdout.\n"
      "On a bootstrapped database it creates nothing, writes no file, says so on stderr and exits 0.");
  AddDatabaseFlag(flags, &url);
  flags.String("admin-key-file", "DI_ADMIN_KEY_FILE", &admin_key_file, "where to write the admin API key");
  flags.String("node-key-file", "DI_NODE_KEY_FILE", &node_key_file, "where to write the node-agent credential");
  flags.String("gateway-key-file", "DI_GATEWAY_KEY_FILE", &gateway_key_file, "where to write the gateway credential");
  flags.String("log-level", "DI_LOG_LEVEL", &log_level, "debug, info, warning or error");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  ConfigureLogging("controlplane", log_level);
  if (url.empty()) return Fail(absl::InvalidArgumentError("--database-url (or DI_DATABASE_URL) is required"));
  for (const auto& [flag, value] :
       {std::pair{"--admin-key-file", &admin_key_file}, std::pair{"--node-key-file", &node_key_file},
        std::pair{"--gateway-key-file", &gateway_key_file}}) {
    if (value->empty()) return Fail(absl::InvalidArgumentError(absl::StrCat(flag, " is required")));
  }
  auto applied = storage::ApplyMigrations(url, storage::EmbeddedMigrations());
  if (!applied.ok()) return Fail(applied.status());
  storage::DbSession db(url);
  absl::StatusOr<BootstrapResult> result = Bootstrap(db);
  if (!result.ok()) return Fail(result.status());
  if (result->created) {
    for (const auto& [path, secret] :
         {std::pair{&admin_key_file, &result->admin_secret}, std::pair{&node_key_file, &result->node_secret},
          std::pair{&gateway_key_file, &result->gateway_secret}}) {
      if (absl::Status s = WriteSecretFile(*path, *secret); !s.ok()) return Fail(s);
    }
    LogInfo("bootstrapped", {{"cloud_id", result->cloud_id},
                             {"folder_id", result->folder_id},
                             {"admin_service_account_id", result->admin_account_id}});
  } else {
    std::cerr << "controlplane: already bootstrapped: installation admin " << result->admin_account_id
              << " exists; nothing was created and no key file was written\n";
  }
  std::cout << absl::StrCat("{\"created\":", result->created ? "true" : "false", ",\"cloud_id\":\"", result->cloud_id,
                            "\",\"folder_id\":\"", result->folder_id, "\",\"admin_service_account_id\":\"",
                            result->admin_account_id, "\"}\n");
  return 0;
}

int Serve(const std::vector<std::string>& args) {
  ControlplaneConfig config;
  std::string catalog_path;
  std::string log_level = "info";
  bool migrate = true;
  int64_t db_threads = config.db_threads, workers = config.workers, get_batches = config.get_batches;
  FlagSet flags("Usage: controlplane serve --database-url URL [flags]\nServes the gRPC API until SIGTERM or SIGINT.");
  AddDatabaseFlag(flags, &config.database_url);
  flags.String("listen", "DI_LISTEN_ADDRESS", &config.listen_address, "gRPC listen address (host:port)");
  flags.String("metrics-listen", "DI_METRICS_ADDRESS", &config.metrics_address,
               "Prometheus /metrics address (host:port); empty disables it");
  flags.Duration("fleet-metrics-interval", "DI_FLEET_METRICS_INTERVAL", &config.fleet_metrics_interval,
                 "how often the instance, node and operation gauges of /metrics are read from the database; "
                 "0 disables them");
  flags.String("catalog", "DI_CATALOG", &catalog_path,
               "model catalog file (protobuf text format); default: the catalog compiled into this binary");
  flags.Bool("migrate", "DI_MIGRATE_ON_START", &migrate, "apply database migrations before serving");
  flags.Int("db-connections", "DI_DB_CONNECTIONS", &db_threads, "database connections for API calls");
  flags.Int("get-batches", "DI_GET_BATCHES", &get_batches,
            "InstanceService.Get batches in flight at once, at most --db-connections (concurrent Gets share one "
            "query per batch)");
  flags.Int("workers", "DI_WORKERS", &workers, "operation worker threads (each has its own connection)");
  flags.Duration("operation-lease", "DI_OPERATION_LEASE", &config.operation_lease,
                 "how long a claimed operation stays with a worker that stopped answering");
  flags.Duration("provision-timeout", "DI_PROVISION_TIMEOUT", &config.provision_timeout,
                 "Create/Start fail (and rolling updates roll back) when engines are not ready within this time");
  flags.Duration("stop-timeout", "DI_STOP_TIMEOUT", &config.stop_timeout,
                 "a replica that does not confirm its stop within this time is released anyway");
  flags.Duration("drain-grace", "DI_DRAIN_GRACE", &config.drain_grace,
                 "in a rolling update, how long a leaving replica gets no new requests before it is stopped");
  flags.Duration("heartbeat-interval", "DI_HEARTBEAT_INTERVAL", &config.heartbeat_interval,
                 "heartbeat interval asked of node-agents");
  flags.Duration("node-timeout", "DI_NODE_TIMEOUT", &config.node_timeout,
                 "a node without heartbeat for this long is DOWN");
  flags.Duration("iam-poll", "DI_IAM_POLL", &config.iam_poll,
                 "how often to look for IAM changes made through other controlplane replicas");
  flags.Duration("route-poll", "DI_ROUTE_POLL", &config.route_poll,
                 "how often gateways' routing table looks for changes (instances, ready replicas)");
  flags.Duration("shutdown-grace", "DI_SHUTDOWN_GRACE", &config.shutdown_grace,
                 "on SIGTERM, how long in-flight calls may take to finish");
  flags.String("log-level", "DI_LOG_LEVEL", &log_level, "debug, info, warning or error");
  if (absl::Status s = flags.Parse(args); !s.ok()) return Fail(s);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  if (!ConfigureLogging("controlplane", log_level)) {
    return Fail(absl::InvalidArgumentError("--log-level: debug, info, warning or error"));
  }
  if (config.database_url.empty()) {
    return Fail(absl::InvalidArgumentError("--database-url (or DI_DATABASE_URL) is required"));
  }
  if (db_threads < 1 || db_threads > 256) return Fail(absl::InvalidArgumentError("--db-connections: 1 to 256"));
  if (workers < 1 || workers > 64) return Fail(absl::InvalidArgumentError("--workers: 1 to 64"));
  config.db_threads = static_cast<int>(db_threads);
  config.workers = static_cast<int>(workers);
  // More batches than connections cannot run at once: the controlplane uses min(--get-batches,
  // --db-connections), so the default of 2 also works with --db-connections 1.
  if (get_batches < 1 || get_batches > 256) {
    return Fail(absl::InvalidArgumentError("--get-batches: 1 to 256"));
  }
  config.get_batches = static_cast<int>(get_batches);

  auto catalog = catalog_path.empty() ? catalog::Catalog::FromText(catalog::EmbeddedCatalogText())
                                      : catalog::Catalog::FromFile(catalog_path);
  if (!catalog.ok()) return Fail(catalog.status());
  if (migrate) {
    auto applied = storage::ApplyMigrations(config.database_url, storage::EmbeddedMigrations());
    if (!applied.ok()) return Fail(applied.status());
  }
  Controlplane controlplane(config, *catalog);
  if (absl::Status s = controlplane.Start(); !s.ok()) return Fail(s);
  int sig = WaitForShutdownSignal();
  LogInfo("signal received", {{"signal", absl::StrCat(sig)}});
  controlplane.Shutdown();
  return 0;
}

}  // namespace
}  // namespace dedicated::controlplane

int main(int argc, char** argv) {
  using namespace dedicated::controlplane;
  // Debian builds Abseil without NDEBUG, so by default every absl::Mutex (gRPC's own locks included)
  // runs deadlock detection: a global lock graph behind one spinlock, on every Lock and Unlock. That
  // costs the API a good part of its throughput under load (docs/benchmarks.md). The tests link the
  // library, not this main, and keep the detection.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  dedicated::BlockShutdownSignals();
  std::vector<std::string> args = dedicated::ArgsFrom(argc, argv);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string verb = args[0];
  args.erase(args.begin());
  if (verb == "serve") return Serve(args);
  if (verb == "migrate") return Migrate(args);
  if (verb == "bootstrap") return BootstrapVerb(args);
  std::cerr << "controlplane: unknown verb \"" << verb << "\"\n\n" << kUsage;
  return 2;
}
