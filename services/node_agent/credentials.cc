#include "services/node_agent/credentials.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/common/secret_file.h"

namespace dedicated::node_agent {

absl::StatusOr<NodeCredential> LoadNodeCredential(absl::string_view env_secret, const std::string& key_file) {
  NodeCredential credential;
  if (!env_secret.empty()) {
    credential.source = absl::StrCat("$", kNodeKeyEnv);
    absl::StatusOr<std::string> secret = CleanSecret(env_secret, credential.source, "node credential");
    if (!secret.ok()) return secret.status();
    credential.secret = *std::move(secret);
    return credential;
  }
  if (key_file.empty()) return credential;
  credential.source = absl::StrCat("--node-key-file ", key_file);
  absl::StatusOr<SecretFile> contents = ReadSecretFile(key_file);
  if (!contents.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(credential.source, ": ", contents.status().message()));
  }
  absl::StatusOr<std::string> secret = CleanSecret(contents->contents, credential.source, "node credential");
  if (!secret.ok()) return secret.status();
  credential.secret = *std::move(secret);
  return credential;
}

std::string AuthorizationValue(absl::string_view secret) { return absl::StrCat("Api-Key ", secret); }

}  // namespace dedicated::node_agent
