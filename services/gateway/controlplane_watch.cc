#include "services/gateway/controlplane_watch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "dedicated/v1/access_snapshot_service.grpc.pb.h"
#include "dedicated/v1/route_service.grpc.pb.h"
#include "services/common/log.h"

namespace dedicated::gateway {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

}  // namespace

ControlplaneWatch::ControlplaneWatch(std::string target, std::string credential, Callbacks callbacks)
    : credential_(std::move(credential)), callbacks_(std::move(callbacks)) {
  grpc::ChannelArguments args;
  // A controlplane that vanishes without closing the connection (host down) is noticed by keepalive
  // pings, so the stream reconnects (to another replica behind the address) instead of hanging.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 256 * 1024 * 1024);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

ControlplaneWatch::~ControlplaneWatch() { Stop(); }

void ControlplaneWatch::Start() {
  auto snapshots = std::shared_ptr<v1::AccessSnapshotService::Stub>(v1::AccessSnapshotService::NewStub(channel_));
  auto routes = std::shared_ptr<v1::RouteService::Stub>(v1::RouteService::NewStub(channel_));
  threads_.emplace_back([this, snapshots] {
    Run<v1::AccessSnapshot>(
        "access_snapshot",
        [snapshots](grpc::ClientContext* ctx) { return snapshots->Watch(ctx, v1::WatchAccessSnapshotRequest()); },
        callbacks_.on_access_snapshot);
  });
  threads_.emplace_back([this, routes] {
    Run<v1::RouteTable>(
        "routes", [routes](grpc::ClientContext* ctx) { return routes->Watch(ctx, v1::WatchRoutesRequest()); },
        callbacks_.on_route_table);
  });
}

void ControlplaneWatch::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (grpc::ClientContext* ctx : live_) ctx->TryCancel();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

template <typename Message>
void ControlplaneWatch::Run(const std::string& name,
                            std::function<std::unique_ptr<grpc::ClientReader<Message>>(grpc::ClientContext*)> open,
                            const std::function<void(const Message&)>& on_message) {
  absl::Duration backoff = kFirstBackoff;
  bool warned = false;
  while (true) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Api-Key ", credential_));
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      live_.push_back(&ctx);
    }
    std::unique_ptr<grpc::ClientReader<Message>> reader = open(&ctx);
    Message message;
    bool first = true;
    while (reader->Read(&message)) {
      if (first) {
        first = false;
        backoff = kFirstBackoff;
        warned = false;
        if (callbacks_.on_connection) callbacks_.on_connection(name, true);
        LogInfo("controlplane stream connected", {{"stream", name}});
      }
      on_message(message);
    }
    grpc::Status status = reader->Finish();
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      live_.erase(std::find(live_.begin(), live_.end(), &ctx));
      stopping = stopping_;
    }
    if (stopping) return;
    if (callbacks_.on_connection) callbacks_.on_connection(name, false);
    // Refusals are worth a warning each time (a wrong credential); connection trouble once per outage.
    if (!first || !warned || status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      LogWarning("controlplane stream ended; serving from the last snapshot and reconnecting",
                 {{"stream", name},
                  {"code", absl::StrCat(static_cast<int>(status.error_code()))},
                  {"error", status.error_message()}});
      warned = true;
    }
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), backoff)) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace dedicated::gateway
