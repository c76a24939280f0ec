#include "services/node_agent/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace dedicated::node_agent {
namespace {

// A key is a few dozen bytes; a larger file is the wrong file.
constexpr off_t kMaxKeyFileBytes = 64 * 1024;

// The file's contents; errors say what went wrong without quoting the file.
absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("cannot read it: ", std::strerror(errno)));
  struct stat st {};
  absl::Status problem;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    problem = absl::InvalidArgumentError("not a regular file");
  } else if (st.st_size > kMaxKeyFileBytes) {
    problem = absl::InvalidArgumentError("too large to be a key file");
  }
  std::string contents;
  char buffer[4096];
  while (problem.ok()) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) problem = absl::InvalidArgumentError(absl::StrCat("cannot read it: ", std::strerror(errno)));
    if (n <= 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  if (!problem.ok()) return problem;
  return contents;
}

// Printable ASCII without spaces: what a header value can carry and what the controlplane's
// "Api-Key <secret>" parsing expects.
bool IsSendable(absl::string_view secret) {
  for (char c : secret) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

absl::StatusOr<std::string> CleanSecret(absl::string_view raw, const std::string& source) {
  std::string secret(absl::StripAsciiWhitespace(raw));
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": the node credential is empty"));
  if (!IsSendable(secret)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": the node credential contains characters a gRPC header cannot carry (only printable ASCII "
                     "without spaces is allowed)"));
  }
  return secret;
}

}  // namespace

absl::StatusOr<NodeCredential> LoadNodeCredential(absl::string_view env_secret, const std::string& key_file) {
  NodeCredential credential;
  if (!env_secret.empty()) {
    credential.source = absl::StrCat("$", kNodeKeyEnv);
    absl::StatusOr<std::string> secret = CleanSecret(env_secret, credential.source);
    if (!secret.ok()) return secret.status();
    credential.secret = *std::move(secret);
    return credential;
  }
  if (key_file.empty()) return credential;
  credential.source = absl::StrCat("--node-key-file ", key_file);
  absl::StatusOr<std::string> contents = ReadKeyFile(key_file);
  if (!contents.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(credential.source, ": ", contents.status().message()));
  }
  absl::StatusOr<std::string> secret = CleanSecret(*contents, credential.source);
  if (!secret.ok()) return secret.status();
  credential.secret = *std::move(secret);
  return credential;
}

std::string AuthorizationValue(absl::string_view secret) { return absl::StrCat("Api-Key ", secret); }

}  // namespace dedicated::node_agent
