#pragma once
// The gRPC side of dictl: one Client holds the stubs, and every call goes through Client::Call, which
// builds the ClientContext (deadline, authorization, idempotency key) and retries UNAVAILABLE.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "dedicated/v1/access_binding_service.grpc.pb.h"
#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "dedicated/v1/billing_service.grpc.pb.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "dedicated/v1/model_service.grpc.pb.h"
#include "dedicated/v1/node_admin_service.grpc.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "dedicated/v1/resource_service.grpc.pb.h"

namespace dedicated::dictl {

inline constexpr char kDefaultEndpoint[] = "127.0.0.1:50051";
inline constexpr char kIdempotencyKeyHeader[] = "idempotency-key";
// Sent on every call (one id per logical call, kept across its retries); the controlplane logs it and
// echoes it back, and dictl prints it with errors so that a user can quote it to an operator.
inline constexpr char kRequestIdHeader[] = "x-request-id";

struct RetryPolicy {
  // Retries after the first attempt, so at most max_retries + 1 attempts.
  int max_retries = 3;
  absl::Duration initial_backoff = absl::Milliseconds(250);
  double multiplier = 2.0;
};

struct ClientOptions {
  std::string endpoint = kDefaultEndpoint;
  // Deadline of each single RPC attempt.
  absl::Duration timeout = absl::Seconds(30);
  RetryPolicy retry;
  // Sent as `authorization: Api-Key <api_key>` on every call; empty: no header. Never printed.
  std::string api_key{};
  // Where api_key came from ("--key-file /x", "$DICTL_API_KEY", ...), for error hints.
  std::string api_key_source{};
  // How to wait between attempts; tests replace it to stay fast. Null means absl::SleepFor.
  std::function<void(absl::Duration)> sleep;
};

struct CallOptions {
  // Sent as `idempotency-key` metadata. The server returns the same Operation for the same key, which
  // is what makes retrying a state-changing call safe.
  std::string idempotency_key;
  // Sent as `x-request-id`; empty: a new one (Client::Call sets one per logical call).
  std::string request_id{};
};

class Client {
 public:
  Client(std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options);

  // A plaintext channel to options.endpoint. The channel connects lazily, so this never fails; an
  // unreachable endpoint shows up as UNAVAILABLE on the first call.
  static std::unique_ptr<Client> Connect(ClientOptions options);

  v1::InstanceService::StubInterface& instances() { return *instances_; }
  v1::OperationService::StubInterface& operations() { return *operations_; }
  v1::ModelService::StubInterface& models() { return *models_; }
  v1::ResourceService::StubInterface& resources() { return *resources_; }
  v1::ServiceAccountService::StubInterface& service_accounts() { return *service_accounts_; }
  v1::UserAccountService::StubInterface& user_accounts() { return *user_accounts_; }
  v1::ApiKeyService::StubInterface& api_keys() { return *api_keys_; }
  v1::AccessBindingService::StubInterface& access_bindings() { return *access_bindings_; }
  v1::NodeAdminService::StubInterface& nodes() { return *nodes_; }
  v1::BillingService::StubInterface& billing() { return *billing_; }
  const ClientOptions& options() const { return options_; }

  // The one place a ClientContext is made, so that every RPC has a deadline and the same metadata.
  std::unique_ptr<grpc::ClientContext> NewContext(const CallOptions& call = {}) const;

  // Runs `rpc` with a fresh context per attempt and retries UNAVAILABLE with backoff. Retrying is safe
  // for everything dictl sends: reads and Cancel are naturally idempotent, and state-changing calls carry
  // an idempotency key that stays the same across attempts.
  grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& rpc,
                    const CallOptions& call = {});

  // The request id the server echoed for the latest call through Call(); empty when no server answered
  // (nothing to quote: no server logged it).
  const std::string& last_request_id() const { return last_request_id_; }

 private:
  ClientOptions options_;
  std::string last_request_id_;
  std::unique_ptr<v1::InstanceService::StubInterface> instances_;
  std::unique_ptr<v1::OperationService::StubInterface> operations_;
  std::unique_ptr<v1::ModelService::StubInterface> models_;
  std::unique_ptr<v1::ResourceService::StubInterface> resources_;
  std::unique_ptr<v1::ServiceAccountService::StubInterface> service_accounts_;
  std::unique_ptr<v1::UserAccountService::StubInterface> user_accounts_;
  std::unique_ptr<v1::ApiKeyService::StubInterface> api_keys_;
  std::unique_ptr<v1::AccessBindingService::StubInterface> access_bindings_;
  std::unique_ptr<v1::NodeAdminService::StubInterface> nodes_;
  std::unique_ptr<v1::BillingService::StubInterface> billing_;
};

// "INVALID_ARGUMENT", "NOT_FOUND", ...; "CODE_<n>" for a code outside google.rpc.Code.
std::string StatusCodeName(int code);

// True when the status says the channel never reached a server (refused, unresolvable name), as
// opposed to a server that answered UNAVAILABLE.
bool IsConnectFailure(const grpc::Status& status);

// The x-request-id a server sent back in its trailing metadata; "" when none.
std::string EchoedRequestId(const grpc::ClientContext& context);

// Writes "error: <CODE_NAME>: <message>" to `err`, then "request id: <id>" when a server answered the
// latest call; when the endpoint could not be reached, says which endpoint and how to change it; on
// UNAUTHENTICATED and PERMISSION_DENIED, which key was used (its source, never the secret). Returns the
// exit code for a failed RPC.
int ReportRpcError(const grpc::Status& status, const Client& client, std::ostream& err);

}  // namespace dedicated::dictl
