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

namespace dedicated::dictl {
namespace {

// A key is a few dozen bytes; anything much larger is the wrong file, and is not read into memory.
constexpr off_t kMaxKeyFileBytes = 64 * 1024;

struct KeyFile {
  std::string contents;
  mode_t mode = 0;
};

// Reads a key file. Errors say what went wrong (the caller prefixes which file) but never quote it.
absl::StatusOr<KeyFile> ReadKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("cannot read it: ", std::strerror(errno)));
  KeyFile file;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError("not a regular file");
  }
  if (st.st_size > kMaxKeyFileBytes) {
    close(fd);
    return absl::InvalidArgumentError("too large to be an API key file");
  }
  file.mode = st.st_mode;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      close(fd);
      return absl::InvalidArgumentError(absl::StrCat("cannot read it: ", std::strerror(error)));
    }
    if (n == 0) break;
    file.contents.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return file;
}

// gRPC refuses (or worse, mangles) header values outside printable ASCII, and the server splits
// "Api-Key <secret>" at the space, so a usable secret is printable ASCII without spaces.
bool IsSendable(absl::string_view secret) {
  for (char c : secret) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// Trims and checks the secret; `source` names where it came from.
absl::StatusOr<std::string> CleanSecret(absl::string_view raw, const std::string& source) {
  std::string secret(absl::StripAsciiWhitespace(raw));
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": the API key is empty"));
  if (!IsSendable(secret)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": the API key contains characters a gRPC header cannot carry (only printable ASCII without "
                     "spaces is allowed)"));
  }
  return secret;
}

// A warning when users other than the owner may read the key, like ssh does for private keys.
std::optional<std::string> ModeWarning(const std::string& path, mode_t mode) {
  if ((mode & 077) == 0) return std::nullopt;
  return absl::StrFormat("%s can be read by other users (mode %04o); run: chmod 600 %s", path, mode & 07777, path);
}

absl::StatusOr<ApiKey> FromKeyFile(const std::string& path, const std::string& source) {
  absl::StatusOr<KeyFile> file = ReadKeyFile(path);
  if (!file.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", file.status().message()));
  absl::StatusOr<std::string> secret = CleanSecret(file->contents, source);
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
    absl::StatusOr<std::string> secret = CleanSecret(value, absl::StrCat("$", kApiKeyEnv));
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
