#include "services/controlplane/request_context.h"

#include "absl/strings/str_cat.h"
#include "services/common/ids.h"

namespace dedicated::controlplane {
namespace {

std::string Metadata(const grpc::ServerContextBase& context, const char* key) {
  const auto& md = context.client_metadata();
  auto it = md.find(key);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == ':';
}

}  // namespace

absl::StatusOr<RequestContext> RequestContextFromMetadata(const grpc::ServerContextBase& context) {
  RequestContext rc;
  rc.request_id = Metadata(context, "x-request-id");
  if (rc.request_id.empty() || rc.request_id.size() > 128) rc.request_id = NewUuid();
  const auto& md = context.client_metadata();
  if (auto it = md.find("idempotency-key"); it != md.end()) {
    std::string key(it->second.data(), it->second.size());
    if (key.empty() || key.size() > 128) {
      return absl::InvalidArgumentError("idempotency-key: must be 1 to 128 characters (a UUID is recommended)");
    }
    for (char c : key) {
      if (!IsKeyChar(c)) {
        return absl::InvalidArgumentError("idempotency-key: only letters, digits and -_.: are allowed");
      }
    }
    rc.idempotency_key = std::move(key);
  }
  return rc;
}

}  // namespace dedicated::controlplane
