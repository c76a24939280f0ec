#include "services/dictl/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/secret_file.h"

namespace dedicated::dictl {
namespace {

// A warning when users other than the owner may read the key, like ssh does for private keys.
std::optional<std::string> ModeWarning(const std::string& path, mode_t mode) {
  if ((mode & 077) == 0) return std::nullopt;
  return absl::StrFormat("%s can be read by other users (mode %04o); run: chmod 600 %s", path, mode & 07777, path);
}

absl::StatusOr<ApiKey> FromKeyFile(const std::string& path, const std::string& source) {
  absl::StatusOr<SecretFile> file = ReadSecretFile(path);
  if (!file.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", file.status().message()));
  absl::StatusOr<std::string> secret = CleanSecret(file->contents, source, "API key");
  if (!secret.ok()) return secret.status();
  ApiKey key;
  key.secret = *std::move(secret);
  key.source = source;
  if (std::optional<std::string> warning = ModeWarning(path, file->mode)) key.warnings.push_back(*warning);
  return key;
}

std::string NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// The nearest .local/admin.key at or above `start`, if any.
std::optional<std::string> FindLocalKeyFile(const std::string& start) {
  std::error_code error;
  std::filesystem::path dir = start.empty() ? std::filesystem::current_path(error) : std::filesystem::path(start);
  if (error) return std::nullopt;
  dir = std::filesystem::absolute(dir, error);
  if (error) return std::nullopt;
  for (;;) {
    std::filesystem::path candidate = dir / kLocalKeyFile;
    if (std::filesystem::exists(candidate, error)) return candidate.string();
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

}  // namespace

absl::StatusOr<ApiKey> ResolveApiKey(const KeySources& sources) {
  if (!sources.key_file_flag.empty()) {
    return FromKeyFile(sources.key_file_flag, absl::StrCat("--key-file ", sources.key_file_flag));
  }
  if (std::string value = NonEmptyEnv(kApiKeyEnv); !value.empty()) {
    absl::StatusOr<std::string> secret = CleanSecret(value, absl::StrCat("$", kApiKeyEnv), "API key");
    if (!secret.ok()) return secret.status();
    ApiKey key;
    key.secret = *std::move(secret);
    key.source = absl::StrCat("$", kApiKeyEnv);
    return key;
  }
  if (std::string path = NonEmptyEnv(kKeyFileEnv); !path.empty()) {
    return FromKeyFile(path, absl::StrCat("$", kKeyFileEnv, " (", path, ")"));
  }
  std::optional<std::string> local = FindLocalKeyFile(sources.working_dir);
  if (!local) return ApiKey{};
  absl::StatusOr<ApiKey> key = FromKeyFile(*local, *local);
  if (!key.ok()) {
    // The user did not name this file; say why it was skipped and go on without a key.
    ApiKey none;
    none.warnings.push_back(absl::StrCat("ignoring ", key.status().message()));
    return none;
  }
  return key;
}

std::string AuthorizationValue(absl::string_view secret) { return absl::StrCat("Api-Key ", secret); }

}  // namespace dedicated::dictl
