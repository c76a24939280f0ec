#pragma once
// The one place where absl::Status crosses to and from grpc::Status (the RPC edge).

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace dedicated {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace dedicated
