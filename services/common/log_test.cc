#include "services/common/log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace dedicated {
namespace {

// Sends stderr (where log lines go) to a file for the life of the object.
class CapturedStderr {
 public:
  CapturedStderr() {
    path_ = ::testing::TempDir() + "/log_test." + std::to_string(::getpid()) + "." + std::to_string(counter_++);
    FlushLogs();
    saved_ = ::dup(STDERR_FILENO);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~CapturedStderr() {
    FlushLogs();
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::unlink(path_.c_str());
  }
  std::vector<std::string> Lines() const {
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
  int saved_ = -1;
};

std::vector<std::string> Keys(const std::string& line) {
  std::vector<std::string> keys;
  const nlohmann::ordered_json object = nlohmann::ordered_json::parse(line);
  for (auto it = object.begin(); it != object.end(); ++it) keys.push_back(it.key());
  return keys;
}

TEST(Log, OneJsonObjectPerLineInAFixedOrder) {
  ASSERT_TRUE(ConfigureLogging("log-test", "info"));
  CapturedStderr err;
  LogInfo("instance created", {{"instance_id", "din1"}, {"request_id", "req2"}});
  Log(LogLevel::kDebug, "below the level", {});
  FlushLogs();
  std::vector<std::string> lines = err.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(Keys(lines[0]), ::testing::ElementsAre("ts", "level", "component", "msg", "instance_id", "request_id"));
  nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["component"], "log-test");
  EXPECT_EQ(j["msg"], "instance created");
  EXPECT_EQ(j["instance_id"], "din1");
  EXPECT_THAT(j["ts"].get<std::string>(),
              ::testing::MatchesRegex(
                  R"(20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9][0-9][0-9]Z)"));
}

TEST(Log, EscapesLikeTheJsonLibraryAndNeverWritesInvalidUtf8) {
  static constexpr char kControl[] = "nul \0 bell \a esc \x1b del \x7f";  // with its NUL
  ASSERT_TRUE(ConfigureLogging("", "info"));
  const std::vector<std::string> valid = {"plain", "quote \" backslash \\ slash /", "tab\tnewline\nreturn\r",
                                          std::string(kControl, sizeof(kControl) - 1),
                                          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"};
  const std::vector<std::string> invalid = {"\xff",    "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                            "\xe2\x82"};
  CapturedStderr err;
  for (const std::string& s : valid) LogInfo("m", {{"v", s}});
  for (const std::string& s : invalid) LogInfo("m", {{"v", s}});
  FlushLogs();
  std::vector<std::string> lines = err.Lines();
  ASSERT_EQ(lines.size(), valid.size() + invalid.size());
  for (size_t i = 0; i < valid.size(); ++i) {
    // The value's text is exactly what nlohmann writes for it, and it reads back unchanged.
    EXPECT_NE(lines[i].find("\"v\":" + nlohmann::json(valid[i]).dump()), std::string::npos) << lines[i];
    EXPECT_EQ(nlohmann::json::parse(lines[i])["v"], valid[i]);
  }
  for (size_t i = 0; i < invalid.size(); ++i) {
    const std::string& line = lines[valid.size() + i];
    nlohmann::json j = nlohmann::json::parse(line);  // throws (fails the test) on invalid UTF-8
    EXPECT_NE(j["v"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos) << line;
  }
}

TEST(Log, AFieldNamedLikeAnEarlierMemberReplacesIt) {
  ASSERT_TRUE(ConfigureLogging("", "info"));
  CapturedStderr err;
  LogInfo("m", {{"a", "1"}, {"msg", "override"}, {"a", "2"}});
  FlushLogs();
  std::vector<std::string> lines = err.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(Keys(lines[0]), ::testing::ElementsAre("ts", "level", "msg", "a"));
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "override");
  EXPECT_EQ(nlohmann::json::parse(lines[0])["a"], "2");
}

TEST(Log, AWarningIsWrittenAtOnceAfterEverythingBeforeIt) {
  ASSERT_TRUE(ConfigureLogging("", "info"));
  CapturedStderr err;
  for (int i = 0; i < 100; ++i) LogInfo("info", {{"i", std::to_string(i)}});
  LogWarning("warning");
  std::vector<std::string> lines = err.Lines();  // no FlushLogs(): the warning wrote the batch
  ASSERT_EQ(lines.size(), 101u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(nlohmann::json::parse(lines[i])["i"], std::to_string(i));
  EXPECT_EQ(nlohmann::json::parse(lines[100])["msg"], "warning");
}

TEST(Log, InfoLinesReachTheFileWithoutAFlush) {
  ASSERT_TRUE(ConfigureLogging("", "info"));
  CapturedStderr err;
  LogInfo("batched");
  // The batching thread writes within ~10 ms; allow a slow CI machine 5 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (err.Lines().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(err.Lines().size(), 1u);
}

TEST(Log, ConcurrentLinesStayWhole) {
  ASSERT_TRUE(ConfigureLogging("", "info"));
  CapturedStderr err;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 2000; ++i) LogInfo("x", {{"t", std::to_string(t)}, {"pad", std::string(100, 'p')}});
    });
  }
  for (auto& th : threads) th.join();
  FlushLogs();
  std::vector<std::string> lines = err.Lines();
  ASSERT_EQ(lines.size(), 8000u);
  for (const std::string& line : lines) ASSERT_NO_THROW(nlohmann::json::parse(line)) << line;
}

}  // namespace
}  // namespace dedicated
