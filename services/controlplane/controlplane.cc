#include "services/controlplane/controlplane.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "services/common/log.h"
#include "services/controlplane/assignment_hub.h"
#include "services/controlplane/fleet_metrics.h"
#include "services/controlplane/authorizer.h"
#include "services/controlplane/billing_meter.h"
#include "services/controlplane/billing_store.h"
#include "services/controlplane/iam_api.h"
#include "services/controlplane/iam_cache.h"
#include "services/controlplane/grpc_services.h"
#include "services/controlplane/instance_api.h"
#include "services/controlplane/metrics.h"
#include "services/controlplane/node_api.h"
#include "services/controlplane/node_monitor.h"
#include "services/controlplane/operation_runner.h"
#include "services/controlplane/operation_steps.h"
#include "services/controlplane/route_cache.h"
#include "services/controlplane/rpc_dispatch.h"
#include "services/storage/db_executor.h"

namespace dedicated::controlplane {

// Wakeups inside one process: new operations wake the workers, changed replicas wake the node streams.
class ProcessWakeups final : public Wakeups {
 public:
  void OperationsChanged() override {
    if (runner != nullptr) runner->Wake();
  }
  void AssignmentsChanged() override {
    if (hub != nullptr) hub->Poke();
  }
  OperationRunner* runner = nullptr;
  AssignmentHub* hub = nullptr;
};

class GrpcParts {
 public:
  std::unique_ptr<storage::DbExecutor> executor;
  std::unique_ptr<RpcDispatcher> dispatcher;
  std::unique_ptr<GetBatcher> gets;
  std::unique_ptr<InstanceServiceImpl> instance_service;
  std::unique_ptr<OperationServiceImpl> operation_service;
  std::unique_ptr<ModelServiceImpl> model_service;
  std::unique_ptr<NodeServiceImpl> node_service;
  std::unique_ptr<QuotaApi> quota_api;
  std::unique_ptr<ResourceServiceImpl> resource_service;
  std::unique_ptr<ServiceAccountServiceImpl> service_account_service;
  std::unique_ptr<UserAccountServiceImpl> user_account_service;
  std::unique_ptr<NodeAdminApi> node_admin_api;
  std::unique_ptr<NodeAdminServiceImpl> node_admin_service;
  std::unique_ptr<ApiKeyServiceImpl> api_key_service;
  std::unique_ptr<AccessBindingServiceImpl> access_binding_service;
  std::unique_ptr<BillingApi> billing_api;
  std::unique_ptr<BillingServiceImpl> billing_service;
  std::unique_ptr<BillingMeter> billing_meter;
  std::unique_ptr<AccessSnapshotServiceImpl> access_snapshot_service;
  std::unique_ptr<RouteServiceImpl> route_service;
  std::unique_ptr<grpc::Server> server;
  std::thread metrics_thread;
  std::unique_ptr<FleetMetrics> fleet_metrics;
  std::unique_ptr<FleetMetricsCollector> fleet_collector;
  absl::Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
};

Controlplane::Controlplane(ControlplaneConfig config, std::shared_ptr<const catalog::Catalog> catalog,
                           const Clock* clock)
    : config_(std::move(config)), catalog_(std::move(catalog)), clock_(clock) {}

Controlplane::~Controlplane() { Shutdown(); }

std::string Controlplane::address() const {
  std::string host = config_.listen_address.substr(0, config_.listen_address.rfind(':'));
  return absl::StrCat(host, ":", port_);
}

absl::Status Controlplane::Start() {
  {
    // Prices first: no interval may open for a SKU the database does not know.
    storage::DbSession db(config_.database_url);
    absl::Status seeded = db.InTransaction("seed sku prices", [this](pqxx::work& tx, storage::DbSession& s) {
      return SeedSkuPrices(tx, s, *catalog_);
    });
    if (!seeded.ok()) return seeded;
  }
  metrics_ = std::make_unique<Metrics>();
  wakeups_ = std::make_unique<ProcessWakeups>();
  instance_api_ = std::make_unique<InstanceApi>(catalog_, clock_, &config_, wakeups_.get());
  node_api_ = std::make_unique<NodeApi>(catalog_, &config_, wakeups_.get());
  steps_ = std::make_unique<OperationSteps>(catalog_, &config_);
  hub_ = std::make_unique<AssignmentHub>(
      config_.database_url, config_.assignment_poll,
      [this](storage::DbSession& db, const std::string& node_id) { return node_api_->Snapshot(db, node_id); });
  runner_ = std::make_unique<OperationRunner>(&config_, steps_.get(), metrics_.get(), [this] { hub_->Poke(); });
  node_monitor_ = std::make_unique<NodeMonitor>(&config_, [this] {
    runner_->Wake();
    hub_->Poke();
  });
  iam_cache_ = std::make_unique<IamCache>(config_.database_url, config_.iam_poll);
  iam_cache_->Start();
  route_cache_ = std::make_unique<RouteCache>(config_.database_url, catalog_, config_.route_poll);
  route_cache_->Start();
  authorizer_ = std::make_unique<Authorizer>(iam_cache_.get(), clock_);
  iam_api_ = std::make_unique<IamApi>(iam_cache_.get(), clock_);
  wakeups_->runner = runner_.get();
  wakeups_->hub = hub_.get();

  grpc_ = std::make_unique<GrpcParts>();
  grpc_->executor = std::make_unique<storage::DbExecutor>(config_.database_url, config_.db_threads, config_.db_queue,
                                                          [this](double seconds) { metrics_->ObserveDbWait(seconds); });
  grpc_->dispatcher = std::make_unique<RpcDispatcher>(grpc_->executor.get(), metrics_.get(), authorizer_.get());
  grpc_->gets = std::make_unique<GetBatcher>(grpc_->executor.get(), grpc_->dispatcher.get(),
                                             std::min(config_.get_batches, config_.db_threads));
  grpc_->instance_service =
      std::make_unique<InstanceServiceImpl>(instance_api_.get(), grpc_->dispatcher.get(), grpc_->gets.get());
  grpc_->operation_service = std::make_unique<OperationServiceImpl>(instance_api_.get(), grpc_->dispatcher.get());
  grpc_->model_service = std::make_unique<ModelServiceImpl>(catalog_, grpc_->dispatcher.get());
  grpc_->node_service = std::make_unique<NodeServiceImpl>(node_api_.get(), grpc_->dispatcher.get(), hub_.get());

  grpc_->quota_api = std::make_unique<QuotaApi>(catalog_);
  grpc_->resource_service =
      std::make_unique<ResourceServiceImpl>(iam_api_.get(), grpc_->quota_api.get(), grpc_->dispatcher.get());
  grpc_->service_account_service =
      std::make_unique<ServiceAccountServiceImpl>(iam_api_.get(), grpc_->dispatcher.get());
  grpc_->node_admin_api = std::make_unique<NodeAdminApi>();
  grpc_->node_admin_service =
      std::make_unique<NodeAdminServiceImpl>(grpc_->node_admin_api.get(), grpc_->dispatcher.get());
  grpc_->user_account_service = std::make_unique<UserAccountServiceImpl>(iam_api_.get(), grpc_->dispatcher.get());
  grpc_->api_key_service = std::make_unique<ApiKeyServiceImpl>(iam_api_.get(), grpc_->dispatcher.get());
  grpc_->access_binding_service = std::make_unique<AccessBindingServiceImpl>(iam_api_.get(), grpc_->dispatcher.get());
  grpc_->billing_api = std::make_unique<BillingApi>(catalog_);
  grpc_->billing_service = std::make_unique<BillingServiceImpl>(grpc_->billing_api.get(), grpc_->dispatcher.get());
  // Only settled seconds are counted: a dead node's billing is cut back to its last heartbeat up to
  // node_timeout later.
  grpc_->billing_meter = std::make_unique<BillingMeter>(config_.database_url, metrics_.get(),
                                                        config_.billing_meter_period,
                                                        config_.node_timeout + absl::Seconds(30));
  grpc_->access_snapshot_service =
      std::make_unique<AccessSnapshotServiceImpl>(iam_cache_.get(), grpc_->dispatcher.get());
  grpc_->route_service = std::make_unique<RouteServiceImpl>(route_cache_.get(), grpc_->dispatcher.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen_address, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(grpc_->instance_service.get());
  builder.RegisterService(grpc_->operation_service.get());
  builder.RegisterService(grpc_->model_service.get());
  builder.RegisterService(grpc_->node_service.get());
  builder.RegisterService(grpc_->resource_service.get());
  builder.RegisterService(grpc_->service_account_service.get());
  builder.RegisterService(grpc_->user_account_service.get());
  builder.RegisterService(grpc_->node_admin_service.get());
  builder.RegisterService(grpc_->api_key_service.get());
  builder.RegisterService(grpc_->access_binding_service.get());
  builder.RegisterService(grpc_->billing_service.get());
  builder.RegisterService(grpc_->access_snapshot_service.get());
  builder.RegisterService(grpc_->route_service.get());
  grpc_->server = builder.BuildAndStart();
  if (grpc_->server == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.listen_address));
  }
  if (!config_.metrics_address.empty()) {
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(config_.metrics_address);
      exposer_->RegisterCollectable(metrics_->registry());
      // The database-derived gauges cost a few queries every period: only when someone can scrape them.
      if (config_.fleet_metrics_interval > absl::ZeroDuration()) {
        grpc_->fleet_metrics = std::make_unique<FleetMetrics>(*metrics_->registry(), *catalog_);
        grpc_->fleet_collector = std::make_unique<FleetMetricsCollector>(
            config_.database_url, grpc_->fleet_metrics.get(), config_.fleet_metrics_interval);
      }
    } catch (const std::exception& e) {
      grpc_->server->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", config_.metrics_address, ": ", e.what()));
    }
  }
  grpc_->metrics_thread = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&grpc_->mu);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(grpc_->mu) { return grpc_->stopping; };
        if (grpc_->mu.AwaitWithTimeout(absl::Condition(&stop), absl::Seconds(1))) return;
      }
      metrics_->SetDbQueue(grpc_->executor->queued(), grpc_->executor->busy());
    }
  });
  hub_->Start();
  runner_->Start();
  node_monitor_->Start();
  if (grpc_->fleet_collector != nullptr) grpc_->fleet_collector->Start();
  grpc_->billing_meter->Start();
  started_ = true;
  LogInfo("controlplane serving", {{"address", address()},
                                   {"metrics", config_.metrics_address},
                                   {"worker", runner_->owner()}});
  return absl::OkStatus();
}

void Controlplane::Shutdown() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  LogInfo("controlplane shutting down");
  // Streams first, so that Server::Shutdown does not wait for them until the grace period ends.
  hub_->Stop();
  iam_cache_->CloseSubscribers();
  route_cache_->CloseSubscribers();
  grpc_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.shutdown_grace)));
  grpc_->server->Wait();
  runner_->Stop();
  node_monitor_->Stop();
  if (grpc_->fleet_collector != nullptr) grpc_->fleet_collector->Stop();
  grpc_->billing_meter->Stop();
  {
    absl::MutexLock lock(&grpc_->mu);
    grpc_->stopping = true;
  }
  grpc_->metrics_thread.join();
  grpc_->executor.reset();  // drains queued tasks
  iam_cache_->Stop();
  route_cache_->Stop();
  exposer_.reset();
  LogInfo("controlplane stopped");
}

}  // namespace dedicated::controlplane
