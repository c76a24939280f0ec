#include "services/dictl/rpc.h"

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/ids.h"
#include "services/dictl/credentials.h"
#include "services/dictl/exit_codes.h"

namespace dedicated::dictl {

Client::Client(std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options)
    : options_(std::move(options)),
      instances_(v1::InstanceService::NewStub(channel)),
      operations_(v1::OperationService::NewStub(channel)),
      models_(v1::ModelService::NewStub(channel)),
      resources_(v1::ResourceService::NewStub(channel)),
      service_accounts_(v1::ServiceAccountService::NewStub(channel)),
      user_accounts_(v1::UserAccountService::NewStub(channel)),
      api_keys_(v1::ApiKeyService::NewStub(channel)),
      access_bindings_(v1::AccessBindingService::NewStub(channel)),
      nodes_(v1::NodeAdminService::NewStub(channel)),
      billing_(v1::BillingService::NewStub(channel)) {}

std::unique_ptr<Client> Client::Connect(ClientOptions options) {
  auto channel = grpc::CreateChannel(options.endpoint, grpc::InsecureChannelCredentials());
  return std::make_unique<Client>(std::move(channel), std::move(options));
}

std::unique_ptr<grpc::ClientContext> Client::NewContext(const CallOptions& call) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (!options_.api_key.empty()) {
    context->AddMetadata(kAuthorizationHeader, AuthorizationValue(options_.api_key));
  }
  if (!call.idempotency_key.empty()) {
    context->AddMetadata(kIdempotencyKeyHeader, call.idempotency_key);
  }
  context->AddMetadata(kRequestIdHeader, call.request_id.empty() ? NewUuid() : call.request_id);
  return context;
}

std::string EchoedRequestId(const grpc::ClientContext& context) {
  // Trailing metadata only: the controlplane sends the id in both, and GetServerInitialMetadata() aborts
  // the process when a context has not made a call.
  const auto& md = context.GetServerTrailingMetadata();
  auto it = md.find(kRequestIdHeader);
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

grpc::Status Client::Call(const std::function<grpc::Status(grpc::ClientContext*)>& rpc,
                          const CallOptions& options) {
  // Retries keep the request id, so that the server's log shows every attempt of one call under it.
  CallOptions call = options;
  if (call.request_id.empty()) call.request_id = NewUuid();
  absl::Duration backoff = options_.retry.initial_backoff;
  for (int attempt = 0;; ++attempt) {
    // A ClientContext serves one RPC only, so each attempt gets its own (and its own deadline).
    std::unique_ptr<grpc::ClientContext> context = NewContext(call);
    grpc::Status status = rpc(context.get());
    last_request_id_ = EchoedRequestId(*context);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= options_.retry.max_retries) {
      return status;
    }
    if (options_.sleep) {
      options_.sleep(backoff);
    } else {
      absl::SleepFor(backoff);
    }
    backoff = backoff * options_.retry.multiplier;
  }
}

std::string StatusCodeName(int code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return absl::StrCat("CODE_", code);
}

bool IsConnectFailure(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  // gRPC reports these as free text; the phrases below are what grpc-core 1.5x writes for a refused
  // connection, a failed handshake and an unresolvable name.
  std::string message = absl::AsciiStrToLower(status.error_message());
  return absl::StrContains(message, "failed to connect") ||
         absl::StrContains(message, "connection refused") ||
         absl::StrContains(message, "dns resolution failed") || absl::StrContains(message, "name resolution");
}

int ReportRpcError(const grpc::Status& status, const Client& rpc_client, std::ostream& err) {
  const ClientOptions& client = rpc_client.options();
  err << "error: " << StatusCodeName(status.error_code()) << ": ";
  if (IsConnectFailure(status)) {
    err << "cannot reach the controlplane at " << client.endpoint << " (" << status.error_message() << ")\n"
        << "hint: is it running? Point dictl at another address with --endpoint or the DICTL_ENDPOINT "
           "environment variable.\n";
    return kExitFailure;
  }
  err << status.error_message() << "\n";
  if (!rpc_client.last_request_id().empty()) {
    err << "request id: " << rpc_client.last_request_id() << " (quote it when you report a problem)\n";
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    err << "hint: the call took longer than --timeout allows; raise it, e.g. --timeout 2m.\n";
  }
  // Without a key the "no API key" hint was printed before the call already.
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && !client.api_key.empty()) {
    err << "hint: the controlplane did not accept the API key from " << client.api_key_source
        << " (deleted or expired?).\n";
  }
  if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED && !client.api_key.empty()) {
    err << "hint: the API key from " << client.api_key_source
        << " was accepted, but its subject may lack a role that allows this; see 'dictl access-binding list'.\n";
  }
  return kExitFailure;
}

}  // namespace dedicated::dictl
