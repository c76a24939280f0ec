#pragma once
// Where dictl's API key comes from. Every message here names the key's source ("--key-file /x",
// "$DICTL_API_KEY", ...) and never the secret itself: dictl output ends up in CI logs and tickets.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dedicated::dictl {

inline constexpr char kApiKeyEnv[] = "DICTL_API_KEY";
inline constexpr char kKeyFileEnv[] = "DICTL_KEY_FILE";
// What deploy/local/up.sh writes (mode 0600) at the top of the checkout.
inline constexpr char kLocalKeyFile[] = ".local/admin.key";
inline constexpr char kAuthorizationHeader[] = "authorization";
inline constexpr char kNoApiKeyHint[] =
    "no API key: pass --key-file, set DICTL_API_KEY, or run deploy/local/up.sh which writes .local/admin.key";

struct ApiKey {
  // Empty when no key was found; calls then go out without an authorization header.
  std::string secret;
  // Where it came from, for messages: "--key-file /x", "$DICTL_API_KEY", "$DICTL_KEY_FILE (/x)", or the
  // path of the .local/admin.key that was found.
  std::string source;
  // Things worth telling the user that do not stop the call (a key file others can read, a found
  // .local/admin.key that cannot be read).
  std::vector<std::string> warnings;
};

struct KeySources {
  // --key-file; empty if not given.
  std::string key_file_flag;
  // Where the search for .local/admin.key starts, walking up to the root; empty: the current directory.
  std::string working_dir;
};

// The key, looked up in this order: --key-file, $DICTL_API_KEY (the secret itself), $DICTL_KEY_FILE,
// .local/admin.key in the working directory or any parent. Leading and trailing whitespace (the newline
// of a file) is trimmed. An empty or unset variable counts as not set. A key file named by the flag or
// $DICTL_KEY_FILE that cannot be read, is empty, or holds characters a gRPC header cannot carry is
// INVALID_ARGUMENT naming the flag or variable; the same problems with a found .local/admin.key are only
// warnings, since the user did not ask for that file.
absl::StatusOr<ApiKey> ResolveApiKey(const KeySources& sources);

// The `authorization` metadata value: "Api-Key <secret>".
std::string AuthorizationValue(absl::string_view secret);

}  // namespace dedicated::dictl
