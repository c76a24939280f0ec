#include "services/gateway/access_log.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dedicated::gateway {
namespace {

// Request ids and paths come from clients; the gateway already replaces request ids longer than this.
constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxPathLength = 256;
constexpr size_t kMaxErrorLength = 256;

std::string Cut(std::string_view s, size_t max) { return std::string(s.substr(0, max)); }

}  // namespace

LogLevel AccessLogLevel(const AccessRecord& record) {
  if (record.status == 200 && (record.path == "/health" || record.path == "/healthz")) return LogLevel::kDebug;
  return LogLevel::kInfo;
}

std::vector<LogField> AccessLogFields(const AccessRecord& record, std::chrono::steady_clock::duration elapsed) {
  std::vector<LogField> fields;
  fields.reserve(14);
  fields.emplace_back("request_id", Cut(record.request_id, kMaxIdLength));
  auto add = [&fields](std::string_view key, const std::string& value, size_t max) {
    if (!value.empty()) fields.emplace_back(key, Cut(value, max));
  };
  add("method", record.method, 16);
  add("path", record.path, kMaxPathLength);
  fields.emplace_back("status", absl::StrCat(record.status));
  fields.emplace_back("duration_ms",
                      absl::StrFormat("%.3f", std::chrono::duration<double, std::milli>(elapsed).count()));
  fields.emplace_back("stream", record.stream ? "true" : "false");
  if (record.bytes_out >= 0) fields.emplace_back("bytes_out", absl::StrCat(record.bytes_out));
  add("account_id", record.account_id, kMaxIdLength);
  add("instance_id", record.instance_id, kMaxIdLength);
  add("replica_id", record.replica_id, kMaxIdLength);
  add("endpoint", record.endpoint, kMaxIdLength);
  if (record.attempts > 0) fields.emplace_back("attempts", absl::StrCat(record.attempts));
  add("error", record.error, kMaxErrorLength);
  return fields;
}

void LogAccess(const AccessRecord& record) {
  const LogLevel level = AccessLogLevel(record);
  if (!LogEnabled(level)) return;  // a debug health-check line costs nothing unless debug is on
  Log(level, "http", AccessLogFields(record, std::chrono::steady_clock::now() - record.start));
}

}  // namespace dedicated::gateway
