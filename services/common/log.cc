#include "services/common/log.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace dedicated {
namespace {

std::mutex g_mu;
LogLevel g_min_level = LogLevel::kInfo;
std::string g_component;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// ---- Formatting: the JSON line by hand. Every API call writes one (call_log.h), so building a JSON tree
// (an ordered map with an allocation per key and value) and absl::FormatTime (time zone lookup) per line
// were 4% of the controlplane's CPU per InstanceService.Get.

// JSON string body of `s` (the quotes not included), as nlohmann's dump(ensure_ascii=false,
// error_handler_t::replace) writes it: the two-character escapes, other control characters as \u00xx,
// UTF-8 passed through, and each byte of an invalid UTF-8 sequence replaced by U+FFFD, so that a log
// line is always valid JSON whatever a client sent.
void AppendEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, and the ranges of RFC 3629 (no overlongs, no
    // surrogates, nothing above U+10FFFF).
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool valid = n > 0 && i + n <= s.size();
    for (size_t k = 1; valid && k < n; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      valid = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    }
    if (valid) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out += kReplacement;
      ++i;
    }
  }
}

void AppendMember(std::string& out, std::string_view key, std::string_view value) {
  if (out.size() > 1) out += ',';
  out += '"';
  AppendEscaped(out, key);
  out += "\":\"";
  AppendEscaped(out, value);
  out += '"';
}

// "2026-11-22T08:00:00.123Z". The part up to the seconds is formatted once per second per thread.
void AppendTimestamp(std::string& out, absl::Time now) {
  thread_local int64_t cached_second = -1;
  thread_local char cached[80];  // 20 used; room for any int the compiler imagines
  const int64_t ms = absl::ToUnixMillis(now);
  const int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (second != cached_second) {
    std::time_t t = static_cast<std::time_t>(second);
    std::tm tm;
    gmtime_r(&t, &tm);
    std::snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = second;
  }
  const int millis = static_cast<int>(ms - second * 1000);
  out += cached;
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
}

template <typename Fields>
std::string FormatLine(LogLevel level, const std::string& component, std::string_view message, const Fields& fields) {
  // A field named like an earlier member replaces its value in place (as the JSON object this used to be
  // did), so a line never has a key twice.
  std::vector<std::pair<std::string_view, std::string_view>> members;
  members.reserve(4 + fields.size());
  std::string ts;
  AppendTimestamp(ts, absl::Now());
  members.emplace_back("ts", ts);
  members.emplace_back("level", LevelName(level));
  if (!component.empty()) members.emplace_back("component", component);
  members.emplace_back("msg", message);
  for (const auto& [key, value] : fields) {
    auto same = std::find_if(members.begin(), members.end(), [&](const auto& m) { return m.first == key; });
    if (same != members.end()) {
      same->second = value;
    } else {
      members.emplace_back(key, value);
    }
  }
  std::string text = "{";
  text.reserve(256);
  for (const auto& [key, value] : members) AppendMember(text, key, value);
  text += "}\n";
  return text;
}

// ---- Writing. stderr is unbuffered, so each line was a write(2) of its own: 5% of the controlplane's CPU
// at 12k Gets a second. Info and debug lines now go out in batches, at most kBatchDelay after they were
// logged; a warning or an error is written at once together with everything logged before it (so the
// order of lines never changes, and what explains a failure is out before the process can die of it).
// The batch is also written at exit (atexit) and by FlushLogs(). A kill -9 loses at most kBatchDelay of
// info lines, like any buffered logger (glog keeps up to 30 s).
constexpr auto kBatchDelay = std::chrono::milliseconds(10);
constexpr size_t kMaxPending = 64 * 1024;  // a larger batch is written by the thread that filled it

class LineWriter {
 public:
  void Append(std::string_view line, bool urgent) {
    bool flush_now = urgent;
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      wake = pending_.empty();  // the thread waits for the first line of a batch only
      pending_.append(line);
      flush_now = flush_now || pending_.size() >= kMaxPending;
      if (!flush_now && !thread_started_) {
        thread_started_ = true;
        std::thread([this] { Run(); }).detach();
      }
    }
    if (flush_now) {
      Flush();
    } else if (wake) {
      cv_.notify_one();
    }
  }

  void Flush() {
    std::lock_guard write_lock(write_mu_);
    {
      std::lock_guard lock(mu_);
      writing_.swap(pending_);
    }
    WriteAll(writing_);
    // Both buffers keep their capacity: a flush neither frees its batch (glibc consolidates its heap on
    // every free of 64 KB or more) nor grows the next one from empty.
    writing_.clear();
  }

 private:
  // The batching thread: sleeps until a line arrives, lets the batch fill for kBatchDelay, writes it.
  void Run() {
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return !pending_.empty(); });
      }
      std::this_thread::sleep_for(kBatchDelay);
      Flush();
    }
  }

  static void WriteAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(STDERR_FILENO, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stderr closed or full disk: a log line is not worth blocking or crashing for
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  std::mutex write_mu_;  // held while a batch is written: batches go out in the order they were taken
  std::mutex mu_;        // guards pending_
  std::condition_variable cv_;
  std::string pending_;
  std::string writing_;  // the batch being written; guarded by write_mu_
  bool thread_started_ = false;
};

// Never destroyed: the batching thread and atexit handlers of other code may log during exit.
LineWriter& Writer() {
  static LineWriter* writer = [] {
    auto* w = new LineWriter();
    std::atexit([] { Writer().Flush(); });
    return w;
  }();
  return *writer;
}

template <typename Fields>
void WriteLine(LogLevel level, std::string_view message, const Fields& fields) {
  std::string component;
  {
    std::lock_guard lock(g_mu);
    if (level < g_min_level) return;
    component = g_component;
  }
  std::string text = FormatLine(level, component, message, fields);
  Writer().Append(text, level >= LogLevel::kWarning);
}

}  // namespace

bool ConfigureLogging(std::string_view component, std::string_view min_level) {
  std::lock_guard lock(g_mu);
  g_component = std::string(component);
  if (min_level == "debug")
    g_min_level = LogLevel::kDebug;
  else if (min_level == "info")
    g_min_level = LogLevel::kInfo;
  else if (min_level == "warning")
    g_min_level = LogLevel::kWarning;
  else if (min_level == "error")
    g_min_level = LogLevel::kError;
  else
    return false;
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

void FlushLogs() { Writer().Flush(); }

}  // namespace dedicated
