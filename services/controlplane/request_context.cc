#include "services/controlplane/request_context.h"

#include <random>

#include "absl/strings/str_cat.h"

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

// A request id for logs when the client sent none. Not a secret and not an identifier anything relies
// on, so a per-thread PRNG is enough (OpenSSL's RNG per call showed up in the Get profile).
std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t a = rng(), b = rng();
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[i] = kHex[(a >> (i * 4)) & 15];
    out[16 + i] = kHex[(b >> (i * 4)) & 15];
  }
  return out;
}

// A client's id goes into log lines and back into its response metadata: printable ASCII only, so it
// can neither break a line nor smuggle control characters into a terminal.
bool IsUsableRequestId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

std::string RequestIdFromMetadata(const grpc::ServerContextBase& context) {
  std::string id = Metadata(context, kRequestIdKey);
  return IsUsableRequestId(id) ? id : NewRequestId();
}

absl::StatusOr<RequestContext> RequestContextFromMetadata(const grpc::ServerContextBase& context,
                                                          std::string request_id) {
  RequestContext rc;
  rc.request_id = std::move(request_id);
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
