#pragma once
// What every handler knows about the call: who makes it and how to recognise a retry. Built once at the
// RPC edge (Authorizer::Authenticate fills the principal there), so handlers never parse metadata.

#include <string>

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "services/iam/snapshot.h"

namespace dedicated::controlplane {

struct RequestContext {
  // The authenticated caller's subject id; recorded as Operation.created_by and used as the scope of
  // idempotency keys.
  std::string subject_id;
  iam::Principal principal;
  // The IAM snapshot the call was authorized with; handlers that filter lists use the same one.
  std::shared_ptr<const iam::IamSnapshot> iam;
  // x-request-id metadata, or a generated one (RequestIdFromMetadata); appears in logs.
  std::string request_id;
  // idempotency-key metadata; empty when absent.
  std::string idempotency_key;
};

// The metadata key that carries a request id, in and out (the gateway's HTTP header has the same name).
inline constexpr char kRequestIdKey[] = "x-request-id";

// The client's x-request-id when it sent a usable one (1 to 128 printable ASCII characters, no spaces),
// else a new random one. Clients quote it when they report a problem; the API log carries it.
std::string RequestIdFromMetadata(const grpc::ServerContextBase& context);

// INVALID_ARGUMENT when idempotency-key is present but malformed (empty, too long, odd characters).
absl::StatusOr<RequestContext> RequestContextFromMetadata(const grpc::ServerContextBase& context,
                                                          std::string request_id);

}  // namespace dedicated::controlplane
