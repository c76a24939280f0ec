#include "services/gateway/access_log.h"

#include <gtest/gtest.h>

#include <map>

namespace dedicated::gateway {
namespace {

std::map<std::string, std::string> Fields(const AccessRecord& record) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : AccessLogFields(record, std::chrono::microseconds(12345))) {
    EXPECT_TRUE(out.emplace(std::string(key), value).second) << "duplicate field " << key;
  }
  return out;
}

TEST(AccessLogTest, ProxiedRequestHasItsInstanceReplicaAndAccount) {
  AccessRecord r;
  r.request_id = "test-req-123";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.status = 200;
  r.bytes_out = 612;
  r.stream = true;
  r.account_id = "ajeacct";
  r.instance_id = "dininst";
  r.replica_id = "drprep";
  r.endpoint = "127.0.0.1:8000";
  r.attempts = 2;
  std::map<std::string, std::string> expected = {{"request_id", "test-req-123"},
                                                 {"method", "POST"},
                                                 {"path", "/v1/chat/completions"},
                                                 {"status", "200"},
                                                 {"duration_ms", "12.345"},
                                                 {"stream", "true"},
                                                 {"bytes_out", "612"},
                                                 {"account_id", "ajeacct"},
                                                 {"instance_id", "dininst"},
                                                 {"replica_id", "drprep"},
                                                 {"endpoint", "127.0.0.1:8000"},
                                                 {"attempts", "2"}};
  EXPECT_EQ(Fields(r), expected);
}

TEST(AccessLogTest, LeavesOutWhatTheRequestNeverReached) {
  AccessRecord r;
  r.request_id = "req1";
  r.method = "GET";
  r.path = "/v1/models";
  r.status = 401;
  std::map<std::string, std::string> fields = Fields(r);
  EXPECT_EQ(fields.count("account_id"), 0u);
  EXPECT_EQ(fields.count("instance_id"), 0u);
  EXPECT_EQ(fields.count("replica_id"), 0u);
  EXPECT_EQ(fields.count("attempts"), 0u);
  EXPECT_EQ(fields.count("bytes_out"), 0u);
  EXPECT_EQ(fields.count("error"), 0u);
  EXPECT_EQ(fields["status"], "401");
  EXPECT_EQ(fields["stream"], "false");
}

TEST(AccessLogTest, CutsClientInput) {
  AccessRecord r;
  r.request_id = std::string(1000, 'r');
  r.path = "/" + std::string(1000, 'p');
  r.status = 404;
  std::map<std::string, std::string> fields = Fields(r);
  EXPECT_EQ(fields["request_id"].size(), 128u);
  EXPECT_EQ(fields["path"].size(), 256u);
}

TEST(AccessLogTest, HealthChecksLogAtDebugOnlyWhenTheySucceed) {
  AccessRecord r;
  r.path = "/health";
  r.status = 200;
  EXPECT_EQ(AccessLogLevel(r), LogLevel::kDebug);
  r.status = 405;
  EXPECT_EQ(AccessLogLevel(r), LogLevel::kInfo);
  r.path = "/v1/chat/completions";
  r.status = 200;
  EXPECT_EQ(AccessLogLevel(r), LogLevel::kInfo);
}

}  // namespace
}  // namespace dedicated::gateway
