#include "services/common/log.h"

#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <nlohmann/json.hpp>

namespace dedicated {
namespace {

std::mutex g_mu;
LogLevel g_min_level = LogLevel::kInfo;
std::string g_component;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

template <typename Fields>
void WriteLine(LogLevel level, std::string_view message, const Fields& fields) {
  std::string component;
  {
    std::lock_guard lock(g_mu);
    if (level < g_min_level) return;
    component = g_component;
  }
  nlohmann::ordered_json line;
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  if (!component.empty()) line["component"] = component;
  line["msg"] = std::string(message);
  for (const auto& [key, value] : fields) line[std::string(key)] = value;
  // Replace invalid UTF-8 rather than throwing: a log line must never take the process down.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::lock_guard lock(g_mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace

bool ConfigureLogging(std::string_view component, std::string_view min_level) {
  std::lock_guard lock(g_mu);
  g_component = std::string(component);
  if (min_level == "debug") g_min_level = LogLevel::kDebug;
  else if (min_level == "info") g_min_level = LogLevel::kInfo;
  else if (min_level == "warning") g_min_level = LogLevel::kWarning;
  else if (min_level == "error") g_min_level = LogLevel::kError;
  else return false;
  return true;
}

bool LogEnabled(LogLevel level) {
  std::lock_guard lock(g_mu);
  return level >= g_min_level;
}

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  WriteLine(level, message, fields);
}

void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) {
  WriteLine(level, message, fields);
}

}  // namespace dedicated
