#include "services/iam/api_key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/ids.h"

namespace dedicated::iam {

std::string NewApiKeySecret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string encoded;
  absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)), &encoded);
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return absl::StrCat(kApiKeyPrefix, encoded);
}

std::string HashApiKeySecret(absl::string_view secret) { return Sha256Hex(std::string_view(secret.data(), secret.size())); }

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<std::string> SecretFromAuthorization(absl::string_view header) {
  header = absl::StripAsciiWhitespace(header);
  auto space = header.find(' ');
  if (header.empty() || space == absl::string_view::npos) {
    return absl::UnauthenticatedError("authorization: expected \"Api-Key <secret>\" or \"Bearer <secret>\"");
  }
  std::string scheme = absl::AsciiStrToLower(header.substr(0, space));
  absl::string_view secret = absl::StripAsciiWhitespace(header.substr(space + 1));
  if ((scheme != "api-key" && scheme != "bearer") || secret.empty() || secret.size() > 512) {
    return absl::UnauthenticatedError("authorization: expected \"Api-Key <secret>\" or \"Bearer <secret>\"");
  }
  return std::string(secret);
}

}  // namespace dedicated::iam
