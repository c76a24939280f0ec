#include "services/common/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace dedicated {
namespace {
constexpr off_t kMaxSecretFileBytes = 64 * 1024;
}  // namespace

absl::StatusOr<SecretFile> ReadSecretFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("cannot read it: ", std::strerror(errno)));
  SecretFile file;
  struct stat st {};
  absl::Status problem;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    problem = absl::InvalidArgumentError("not a regular file");
  } else if (st.st_size > kMaxSecretFileBytes) {
    problem = absl::InvalidArgumentError("too large to be a key file");
  }
  file.mode = st.st_mode;
  char buffer[4096];
  while (problem.ok()) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) problem = absl::InvalidArgumentError(absl::StrCat("cannot read it: ", std::strerror(errno)));
    if (n <= 0) break;
    file.contents.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  if (!problem.ok()) return problem;
  return file;
}

absl::StatusOr<std::string> CleanSecret(absl::string_view raw, absl::string_view source, absl::string_view what) {
  std::string secret(absl::StripAsciiWhitespace(raw));
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": the ", what, " is empty"));
  for (char c : secret) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": the ", what,
                                                     " contains characters a gRPC header cannot carry (only "
                                                     "printable ASCII without spaces is allowed)"));
    }
  }
  return secret;
}

absl::Status WriteSecretFile(const std::string& path, absl::string_view secret) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": ", std::strerror(errno)));
  fchmod(fd, 0600);  // an existing file keeps its old mode through O_TRUNC
  std::string data = absl::StrCat(secret, "\n");
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ok = (fsync(fd) == 0) && ok;
  close(fd);
  if (!ok) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace dedicated
