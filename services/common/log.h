#pragma once
// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-22T08:00:00.123Z","level":"info","msg":"operation done","operation_id":"op..."}
// Callers pass identifiers (operation_id, instance_id, request_id) as fields. Never pass secrets.
// Info and debug lines are written in batches within ~10 ms; warnings and errors at once, with everything
// logged before them (log.cc says why).

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dedicated {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogField = std::pair<std::string_view, std::string>;

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
// The same for a field list built at run time (e.g. only the ids a call has).
void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields);
// False when lines of `level` are dropped: lets a caller skip building a line nobody will see.
bool LogEnabled(LogLevel level);
inline void LogInfo(std::string_view m, std::initializer_list<LogField> f = {}) { Log(LogLevel::kInfo, m, f); }
inline void LogWarning(std::string_view m, std::initializer_list<LogField> f = {}) { Log(LogLevel::kWarning, m, f); }
inline void LogError(std::string_view m, std::initializer_list<LogField> f = {}) { Log(LogLevel::kError, m, f); }

// Sets the minimum level written ("debug", "info", "warning", "error") and the component name added to
// every line. Returns false for an unknown level.
bool ConfigureLogging(std::string_view component, std::string_view min_level);

// Writes the lines still waiting for their batch. Exit does it too (atexit); call it before ending the
// process another way (_exit, abort).
void FlushLogs();

}  // namespace dedicated
