#include "services/gateway/openai_error.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace dedicated::gateway {
namespace {

TEST(OpenAiErrorTest, BodyHasTheShapeTheSdksParse) {
  auto body = nlohmann::json::parse(ErrorBody(ModelNotFound("dedicated://f/i")));
  ASSERT_TRUE(body.contains("error"));
  const auto& e = body["error"];
  EXPECT_NE(e["message"].get<std::string>().find("dedicated://f/i"), std::string::npos);
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_EQ(e["code"], "model_not_found");
  EXPECT_TRUE(e.contains("param"));
  EXPECT_TRUE(e["param"].is_null());
}

TEST(OpenAiErrorTest, StatusesAndTypes) {
  EXPECT_EQ(MissingApiKey().status, 401);
  EXPECT_EQ(InvalidApiKey().status, 401);
  EXPECT_EQ(PermissionDenied("m").status, 403);
  EXPECT_EQ(ModelNotFound("m").status, 404);
  EXPECT_EQ(BodyTooLarge(10).status, 413);
  EXPECT_EQ(EngineTimeout("i").status, 504);
  EXPECT_EQ(ErrorTypeFor(401), "authentication_error");
  EXPECT_EQ(ErrorTypeFor(403), "permission_error");
  EXPECT_EQ(ErrorTypeFor(429), "rate_limit_error");
  EXPECT_EQ(ErrorTypeFor(502), "api_error");
  HttpError e = QueueTimeout("dinst", 3);
  EXPECT_EQ(e.status, 429);
  EXPECT_EQ(e.retry_after_seconds, 3);
  EXPECT_EQ(nlohmann::json::parse(ErrorBody(e))["error"]["type"], "rate_limit_error");
}

TEST(OpenAiErrorTest, InvalidUtf8InAMessageStillGivesValidJson) {
  std::string body = ErrorBody(ModelNotFound("bad\xff\xfe"));
  EXPECT_NO_THROW(nlohmann::json::parse(body));
}

}  // namespace
}  // namespace dedicated::gateway
