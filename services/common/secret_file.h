#pragma once
// Secrets in files (API keys, node and gateway credentials): read and checked the same way by dictl and
// node-agent, written with mode 0600 by `controlplane bootstrap`. No message here ever quotes a secret;
// callers prefix which file or variable it came from.

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dedicated {

struct SecretFile {
  std::string contents;
  mode_t mode = 0;
};

// Reads a small regular file (at most 64 KiB: a key is a few dozen bytes, a larger file is the wrong one).
// INVALID_ARGUMENT saying what went wrong, without the path (the caller names it).
absl::StatusOr<SecretFile> ReadSecretFile(const std::string& path);

// Trims whitespace (a file's trailing newline) and checks that a gRPC header can carry the secret:
// printable ASCII without spaces, which is also what "Api-Key <secret>" parsing expects. `source` names
// where it came from and `what` is "API key", "node credential", ... for messages.
absl::StatusOr<std::string> CleanSecret(absl::string_view raw, absl::string_view source, absl::string_view what);

// Writes `secret` and a newline to `path` with mode 0600 from the start (never world-readable, not even
// briefly), replacing the file if it exists, and fsyncs it.
absl::Status WriteSecretFile(const std::string& path, absl::string_view secret);

}  // namespace dedicated
