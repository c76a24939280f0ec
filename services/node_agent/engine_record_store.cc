#include "services/node_agent/engine_record_store.h"

#include <fcntl.h>
#include <google/protobuf/text_format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/log.h"

namespace dedicated::node_agent {
namespace {

using ::dedicated::node_agent::v1::EngineRecord;

constexpr char kEnginesDir[] = "engines";
constexpr char kSuffix[] = ".textproto";
constexpr char kTmpSuffix[] = ".tmp";

// Replica ids are controlplane-generated ([a-z0-9-]); anything else is escaped so that no id can name a
// path outside the directory. The record itself carries the real id.
std::string FileNameOf(const std::string& replica_id) {
  std::string out;
  for (char c : replica_id) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  if (out.empty()) out = "%";
  return out + kSuffix;
}

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  int r = fsync(fd);
  close(fd);
  if (r != 0) return ErrnoStatus("fsync", path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EngineRecordStore>> EngineRecordStore::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir) / kEnginesDir, ec);
  if (ec) return absl::InternalError(absl::StrCat("--state-dir ", dir, ": cannot create it: ", ec.message()));
  const std::string lock_path = (std::filesystem::path(dir) / "lock").string();
  // Close-on-exec: an engine holding the lock would keep every later agent out.
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("--state-dir: open", lock_path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("--state-dir ", dir, " is in use by another node-agent (", lock_path, " is locked)"));
    }
    errno = err;
    return ErrnoStatus("--state-dir: flock", lock_path);
  }
  return std::unique_ptr<EngineRecordStore>(new EngineRecordStore(dir, fd));
}

EngineRecordStore::~EngineRecordStore() { close(lock_fd_); }

std::string EngineRecordStore::PathOf(const std::string& replica_id) const {
  return (std::filesystem::path(dir_) / kEnginesDir / FileNameOf(replica_id)).string();
}

absl::Status EngineRecordStore::Write(const EngineRecord& record) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(record, &text)) {
    return absl::InternalError("cannot serialize engine record");
  }
  const std::string path = PathOf(record.replica_id());
  const std::string tmp = path + kTmpSuffix;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open", tmp);
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = ErrnoStatus("write", tmp);
      close(fd);
      unlink(tmp.c_str());
      return s;
    }
    written += static_cast<size_t>(n);
  }
  // The data must be on disk before the rename makes it the record, or a power cut could leave an empty
  // record behind.
  if (fsync(fd) != 0) {
    absl::Status s = ErrnoStatus("fsync", tmp);
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = ErrnoStatus("rename", tmp);
    unlink(tmp.c_str());
    return s;
  }
  return FsyncPath(std::filesystem::path(path).parent_path().string(), O_RDONLY | O_DIRECTORY);
}

void EngineRecordStore::Remove(const std::string& replica_id) {
  const std::string path = PathOf(replica_id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    LogWarning("cannot remove engine record", {{"path", path}, {"error", std::strerror(errno)}});
  }
}

std::vector<EngineRecord> EngineRecordStore::LoadAll() {
  std::vector<EngineRecord> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(dir_) / kEnginesDir, ec)) {
    const std::string path = entry.path().string();
    if (absl::EndsWith(path, kTmpSuffix)) {
      // An interrupted write; the record it was replacing (if any) is still in place.
      std::filesystem::remove(entry.path(), ec);
      continue;
    }
    if (!absl::EndsWith(path, kSuffix)) continue;
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    EngineRecord record;
    if (!in || !google::protobuf::TextFormat::ParseFromString(text.str(), &record) || record.replica_id().empty() ||
        record.pid() <= 0 || PathOf(record.replica_id()) != path) {
      LogWarning("dropping unreadable engine record", {{"path", path}});
      std::filesystem::remove(entry.path(), ec);
      continue;
    }
    out.push_back(std::move(record));
  }
  if (ec) LogWarning("cannot list engine records", {{"dir", dir_}, {"error", ec.message()}});
  return out;
}

}  // namespace dedicated::node_agent
