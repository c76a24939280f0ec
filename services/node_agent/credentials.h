#pragma once
// The node credential: the API key this agent sends to the controlplane as
// `authorization: Api-Key <secret>` (the controlplane's `bootstrap` verb writes it with --node-key-file).
// Read once at start. Messages and logs name where it came from, never the secret.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dedicated::node_agent {

// The secret itself; wins over the key file when set.
inline constexpr char kNodeKeyEnv[] = "DI_NODE_KEY";
// The env fallback of --node-key-file.
inline constexpr char kNodeKeyFileEnv[] = "DI_NODE_KEY_FILE";

struct NodeCredential {
  // Empty: no credential; calls go out without an authorization header.
  std::string secret;
  // "$DI_NODE_KEY" or "--node-key-file <path>"; "" without a credential.
  std::string source;
};

// `env_secret` ($DI_NODE_KEY) if not empty, else the contents of `key_file` (--node-key-file, or
// $DI_NODE_KEY_FILE through the flag's env fallback) if given, else no credential. Whitespace around the
// secret (a file's trailing newline) is trimmed. A key file that cannot be read or is empty, and a secret
// a gRPC header cannot carry, are INVALID_ARGUMENT naming the flag or variable and never quoting the secret.
absl::StatusOr<NodeCredential> LoadNodeCredential(absl::string_view env_secret, const std::string& key_file);

// The `authorization` metadata value: "Api-Key <secret>".
std::string AuthorizationValue(absl::string_view secret);

}  // namespace dedicated::node_agent
