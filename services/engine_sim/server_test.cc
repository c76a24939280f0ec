// End-to-end tests of the simulator: a real server in-process on port 0, a real HTTP client.

#include "services/engine_sim/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "services/engine_sim/http_test_client.h"
#include "services/engine_sim/tokenizer.h"

namespace dedicated::engine_sim {
namespace {

using nlohmann::json;
using testing::Fetch;
using testing::HttpResult;
using testing::HttpTestClient;
using testing::SseData;
namespace http = boost::beast::http;
using std::chrono::milliseconds;

Options FastOptions() {
  Options o;
  o.port = 0;
  o.served_model_names = {"sim-model", "sim-alias"};
  o.ttft = absl::Milliseconds(5);
  o.inter_token = absl::Milliseconds(1);
  o.slowdown = 0;
  o.threads = 2;
  o.shutdown_grace = absl::Seconds(1);
  return o;
}

std::unique_ptr<EngineSimServer> StartServer(const Options& options) {
  auto server = std::make_unique<EngineSimServer>(options);
  absl::Status s = server->Start();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_GT(server->port(), 0);
  return server;
}

json ChatBody(int max_tokens, bool stream = false) {
  return {{"model", "sim-model"},
          {"messages", {{{"role", "user"}, {"content", "Hello, world!"}}}},
          {"max_tokens", max_tokens},
          {"stream", stream}};
}

// Polls until `condition` holds or a second has passed.
template <typename Condition>
bool Eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return condition();
}

class EngineSimServerTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = StartServer(FastOptions()); }
  HttpResult Get(std::string_view target) { return Fetch(server_->port(), http::verb::get, target); }
  HttpResult Post(std::string_view target, const std::string& body) {
    return Fetch(server_->port(), http::verb::post, target, body);
  }
  std::unique_ptr<EngineSimServer> server_;
};

TEST(EngineSimStartupTest, HealthIs503DuringStartupDelayThen200) {
  Options options = FastOptions();
  options.startup_delay = absl::Milliseconds(300);
  auto started = std::chrono::steady_clock::now();
  auto server = StartServer(options);

  HttpResult loading = Fetch(server->port(), http::verb::get, "/health");
  EXPECT_EQ(loading.status, 503) << loading.error;
  HttpResult chat = Fetch(server->port(), http::verb::post, "/v1/chat/completions", ChatBody(2).dump());
  EXPECT_EQ(chat.status, 503);
  EXPECT_EQ(json::parse(chat.body)["error"]["code"], 503);

  int status = 0;
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(2)) {
    status = Fetch(server->port(), http::verb::get, "/health").status;
    if (status == 200) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(300));
}

TEST_F(EngineSimServerTest, HealthIsOkWithoutStartupDelay) {
  HttpResult r = Get("/health");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(json::parse(r.body).is_object());
}

TEST_F(EngineSimServerTest, ModelsListsEveryServedName) {
  HttpResult r = Get("/v1/models");
  ASSERT_EQ(r.status, 200) << r.error;
  json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][0]["id"], "sim-model");
  EXPECT_EQ(body["data"][1]["id"], "sim-alias");
  EXPECT_EQ(body["data"][0]["object"], "model");
  EXPECT_EQ(body["data"][0]["owned_by"], "engine-sim");
  EXPECT_EQ(body["data"][0]["max_model_len"], 32768);
  EXPECT_TRUE(body["data"][0]["created"].is_number_integer());

  EXPECT_EQ(Get("/v1/models/sim-alias").status, 200);
  EXPECT_EQ(Get("/v1/models/nope").status, 404);
}

TEST_F(EngineSimServerTest, ChatCompletionHasOpenAiShapeUsageAndTiming) {
  json request = ChatBody(20);
  request["model"] = "sim-alias";
  HttpResult r = Post("/v1/chat/completions", request.dump());
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.Header(http::field::content_type), "application/json");
  json body = json::parse(r.body);
  EXPECT_EQ(body["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "sim-model");  // The first served name, though the alias was asked for.
  EXPECT_TRUE(body["created"].is_number_integer());
  ASSERT_EQ(body["choices"].size(), 1u);
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], SyntheticText(20));
  EXPECT_EQ(choice["finish_reason"], "length");
  // "user" + "Hello" "," "world" "!" = 5 prompt tokens.
  EXPECT_EQ(body["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(body["usage"]["completion_tokens"], 20);
  EXPECT_EQ(body["usage"]["total_tokens"], 25);
  // TTFT 5ms + 19 inter-token gaps of 1ms: the answer cannot come sooner.
  EXPECT_GE(r.elapsed, milliseconds(24));
}

TEST_F(EngineSimServerTest, CompletionReturnsTextCompletion) {
  HttpResult r = Post("/v1/completions",
                      json{{"model", "sim-model"}, {"prompt", "one two three"}, {"max_tokens", 4}}.dump());
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  json body = json::parse(r.body);
  EXPECT_EQ(body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["text"], "lorem ipsum dolor sit");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(body["usage"]["completion_tokens"], 4);
}

TEST_F(EngineSimServerTest, DefaultMaxTokensApplies) {
  HttpResult r = Post("/v1/completions", json{{"prompt", "x"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["usage"]["completion_tokens"], 16);
}

TEST_F(EngineSimServerTest, ChatStreamHasOneChunkPerTokenUsageAndDone) {
  json request = ChatBody(12, /*stream=*/true);
  request["stream_options"] = {{"include_usage", true}};
  HttpResult r = Post("/v1/chat/completions", request.dump());
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.Header(http::field::content_type), "text/event-stream");
  EXPECT_EQ(r.Header(http::field::transfer_encoding), "chunked");
  ASSERT_GE(r.body.size(), 14u);
  EXPECT_EQ(r.body.substr(r.body.size() - 14), "data: [DONE]\n\n");

  std::vector<std::string> events = SseData(r.body);
  // role + 12 tokens + finish + usage + [DONE]
  ASSERT_EQ(events.size(), 16u) << r.body;
  json role = json::parse(events[0]);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(role["choices"][0]["delta"]["content"], "");
  std::string content;
  int content_chunks = 0;
  for (size_t i = 1; i < events.size() - 1; ++i) {
    json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["id"], role["id"]);  // One id for the whole stream.
    if (chunk["choices"].empty()) continue;
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) {
      ++content_chunks;
      content += delta["content"].get<std::string>();
      EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
    }
  }
  EXPECT_EQ(content_chunks, 12);
  EXPECT_EQ(content, SyntheticText(12));
  json finish = json::parse(events[13]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  json usage = json::parse(events[14]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 12);
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(events[15], "[DONE]");
}

// With no token delay the tokens are produced without timers, in bursts of at most 64 (session.cc):
// every token still arrives once and in order, across several bursts, and the answer still ends.
TEST(EngineSimZeroDelayTest, EveryTokenInOrderAcrossBursts) {
  Options options = FastOptions();
  options.ttft = absl::ZeroDuration();
  options.inter_token = absl::ZeroDuration();
  auto server = StartServer(options);
  constexpr int kTokens = 200;

  HttpResult r = Fetch(server->port(), http::verb::post, "/v1/chat/completions", ChatBody(kTokens, true).dump());
  ASSERT_EQ(r.status, 200) << r.error;
  std::vector<std::string> events = SseData(r.body);
  ASSERT_EQ(events.size(), kTokens + 3u) << r.body;  // role + tokens + finish + [DONE]
  std::string content;
  for (size_t i = 1; i <= kTokens; ++i) {
    content += json::parse(events[i])["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(content, SyntheticText(kTokens));
  EXPECT_EQ(json::parse(events[kTokens + 1])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(events.back(), "[DONE]");

  HttpResult plain = Fetch(server->port(), http::verb::post, "/v1/chat/completions", ChatBody(kTokens).dump());
  ASSERT_EQ(plain.status, 200) << plain.error;
  json body = json::parse(plain.body);
  EXPECT_EQ(body["choices"][0]["message"]["content"], SyntheticText(kTokens));
  EXPECT_EQ(body["usage"]["completion_tokens"], kTokens);
}

TEST_F(EngineSimServerTest, CompletionStreamWithoutUsage) {
  HttpResult r = Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 3}, {"stream", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.error;
  std::vector<std::string> events = SseData(r.body);
  // 3 tokens + finish + [DONE]; no role chunk and no usage chunk.
  ASSERT_EQ(events.size(), 5u) << r.body;
  std::string text;
  for (int i = 0; i < 3; ++i) {
    json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    text += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, SyntheticText(3));
  EXPECT_EQ(json::parse(events[3])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(events[4], "[DONE]");
}

TEST_F(EngineSimServerTest, UnknownModelIs404) {
  json request = ChatBody(2);
  request["model"] = "gpt-17";
  HttpResult r = Post("/v1/chat/completions", request.dump());
  EXPECT_EQ(r.status, 404);
  json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["message"], "The model `gpt-17` does not exist.");
  EXPECT_EQ(body["error"]["type"], "NotFoundError");
  EXPECT_EQ(body["error"]["code"], 404);
}

TEST_F(EngineSimServerTest, MalformedRequestsAre400NamingTheProblem) {
  HttpResult bad_json = Post("/v1/chat/completions", "{\"model\": \"sim-model\", ");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_NE(json::parse(bad_json.body)["error"]["message"].get<std::string>().find("Malformed JSON"),
            std::string::npos);

  HttpResult no_messages = Post("/v1/chat/completions", json{{"model", "sim-model"}}.dump());
  EXPECT_EQ(no_messages.status, 400);
  EXPECT_NE(json::parse(no_messages.body)["error"]["message"].get<std::string>().find("`messages`"),
            std::string::npos);

  HttpResult no_prompt = Post("/v1/completions", json{{"model", "sim-model"}}.dump());
  EXPECT_EQ(no_prompt.status, 400);
  EXPECT_NE(no_prompt.body.find("`prompt` is required"), std::string::npos);
}

TEST_F(EngineSimServerTest, MoreThanOneChoiceIsRejected) {
  json request = ChatBody(2);
  request["n"] = 2;
  HttpResult r = Post("/v1/chat/completions", request.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find("`n` must be 1"),
            std::string::npos);
}

TEST_F(EngineSimServerTest, ContextLengthIsEnforced) {
  HttpResult r = Post("/v1/completions", json{{"prompt", "a b c"}, {"max_tokens", 32766}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("maximum context length is 32768 tokens"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("32769 tokens (3 in the prompt, 32766 in the completion)"), std::string::npos)
      << r.body;
}

TEST_F(EngineSimServerTest, UnknownPathIs404AndWrongMethodIs405) {
  HttpResult missing = Get("/v2/whatever");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], 404);

  HttpResult wrong = Get("/v1/chat/completions");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.Header(http::field::allow), "POST");
  EXPECT_EQ(Post("/health", "{}").status, 405);
}

TEST_F(EngineSimServerTest, BodyOver8MiBIs413) {
  // Only the headers are sent: the declared length alone must be refused, before any body is read.
  HttpTestClient client(server_->port());
  ASSERT_TRUE(client.Connect());
  HttpResult r = client.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 8388609\r\n\r\n");
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], 413);
}

TEST_F(EngineSimServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpTestClient client(server_->port());
  ASSERT_TRUE(client.Connect());
  // After a generation the session must switch from watching the socket back to reading requests.
  HttpResult first = client.Post("/v1/chat/completions", ChatBody(3).dump());
  EXPECT_EQ(first.status, 200) << first.error;
  HttpResult second = client.Post("/v1/chat/completions", ChatBody(3, /*stream=*/true).dump());
  EXPECT_EQ(second.status, 200) << second.error;
  EXPECT_NE(second.body.find("data: [DONE]"), std::string::npos);
  HttpResult third = client.Get("/health");
  EXPECT_EQ(third.status, 200) << third.error;
}

TEST_F(EngineSimServerTest, PipelinedRequestSentDuringGenerationIsAnswered) {
  HttpTestClient client(server_->port());
  ASSERT_TRUE(client.Connect());
  std::string chat = ChatBody(10).dump();
  std::string two =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(chat.size()) + "\r\n\r\n" + chat + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  HttpResult first = client.SendRaw(two);
  EXPECT_EQ(first.status, 200) << first.error;
  EXPECT_EQ(json::parse(first.body)["usage"]["completion_tokens"], 10);
  HttpResult second = client.SendRaw("");  // Nothing more to send: read the pipelined answer.
  EXPECT_EQ(second.status, 200) << second.error;
  EXPECT_EQ(second.body, "{}");
}

TEST(EngineSimConcurrencyTest, RequestsBeyondMaxConcurrencyWaitInLine) {
  Options options = FastOptions();
  options.max_concurrency = 1;
  options.inter_token = absl::Milliseconds(2);
  auto server = StartServer(options);
  const int port = server->port();
  const std::string body = ChatBody(60).dump();  // At least 5 + 59 * 2 = 123ms each.

  auto first = std::async(std::launch::async,
                          [&] { return Fetch(port, http::verb::post, "/v1/chat/completions", body); });
  ASSERT_TRUE(Eventually([&] { return server->scheduler().running() == 1; }));
  auto second_sent = std::chrono::steady_clock::now();
  auto second = std::async(std::launch::async,
                           [&] { return Fetch(port, http::verb::post, "/v1/chat/completions", body); });
  ASSERT_TRUE(Eventually([&] { return server->scheduler().waiting() == 1; }));
  HttpResult metrics = Fetch(port, http::verb::get, "/metrics");
  EXPECT_NE(metrics.body.find("engine_sim_num_requests_running 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("engine_sim_num_requests_waiting 1\n"), std::string::npos) << metrics.body;

  HttpResult a = first.get();
  HttpResult b = second.get();
  ASSERT_EQ(a.status, 200) << a.error;
  ASSERT_EQ(b.status, 200) << b.error;
  // The second request only started generating when the first had finished (its slot is freed just
  // before its response is written, hence some slack below 123ms).
  EXPECT_GE(b.finished_at, a.finished_at);
  EXPECT_GE(b.finished_at - a.finished_at, milliseconds(100));
  EXPECT_GE(b.finished_at - second_sent, milliseconds(123));
  EXPECT_EQ(server->scheduler().running(), 0);
}

std::string RawPost(std::string_view target, const std::string& body) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(EngineSimConcurrencyTest, ClientDisconnectMidStreamFreesTheSlot) {
  Options options = FastOptions();
  options.max_concurrency = 1;
  auto server = StartServer(options);

  HttpTestClient client(server->port());
  ASSERT_TRUE(client.Connect());
  // 30000 tokens at 1ms would hold the only slot for 30s if the hang-up went unnoticed.
  ASSERT_TRUE(client.Write(RawPost("/v1/chat/completions", ChatBody(30000, /*stream=*/true).dump())));
  std::string seen;
  ASSERT_TRUE(client.ReadUntil("\"content\":\"lorem\"", &seen)) << seen;
  EXPECT_EQ(server->scheduler().running(), 1);
  client.Close();

  EXPECT_TRUE(Eventually([&] { return server->scheduler().running() == 0; }));
  HttpResult after =
      Fetch(server->port(), http::verb::post, "/v1/chat/completions", ChatBody(5).dump(), milliseconds(2000));
  EXPECT_EQ(after.status, 200) << after.error;
  EXPECT_LT(server->metrics().generated_tokens(), 10000);
  HttpResult metrics = Fetch(server->port(), http::verb::get, "/metrics");
  EXPECT_NE(metrics.body.find("engine_sim_aborted_generations_total 1\n"), std::string::npos) << metrics.body;
}

TEST(EngineSimConcurrencyTest, ClientDisconnectWhileQueuedLeavesTheQueue) {
  Options options = FastOptions();
  options.max_concurrency = 1;
  auto server = StartServer(options);

  HttpTestClient running(server->port());
  ASSERT_TRUE(running.Connect());
  ASSERT_TRUE(running.Write(
      RawPost("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 30000}, {"stream", true}}.dump())));
  ASSERT_TRUE(Eventually([&] { return server->scheduler().running() == 1; }));

  HttpTestClient queued(server->port());
  ASSERT_TRUE(queued.Connect());
  ASSERT_TRUE(queued.Write(RawPost("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 5}}.dump())));
  ASSERT_TRUE(Eventually([&] { return server->scheduler().waiting() == 1; }));
  queued.Close();
  EXPECT_TRUE(Eventually([&] { return server->scheduler().waiting() == 0; }));
  EXPECT_EQ(server->scheduler().running(), 1);  // The running stream is untouched.

  running.Close();
  EXPECT_TRUE(Eventually([&] { return server->scheduler().running() == 0; }));
  EXPECT_EQ(server->metrics().RequestCount("/v1/completions", 499), 1);
}

TEST(EngineSimShutdownTest, StopLetsInFlightResponsesFinish) {
  Options options = FastOptions();
  options.inter_token = absl::Milliseconds(2);
  auto server = StartServer(options);
  const int port = server->port();
  auto in_flight = std::async(std::launch::async, [&] {
    return Fetch(port, http::verb::post, "/v1/chat/completions", ChatBody(50).dump());
  });
  ASSERT_TRUE(Eventually([&] { return server->scheduler().running() == 1; }));
  server->Stop();

  HttpResult r = in_flight.get();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(json::parse(r.body)["usage"]["completion_tokens"], 50);
  HttpTestClient late(port);
  EXPECT_FALSE(late.Connect());  // No longer listening.
}

TEST_F(EngineSimServerTest, MetricsCountRequestsAndTokens) {
  ASSERT_EQ(Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 7}}.dump()).status, 200);
  ASSERT_EQ(Get("/nope").status, 404);
  HttpResult r = Get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.Header(http::field::content_type).find("text/plain"), std::string::npos);
  EXPECT_NE(r.body.find("engine_sim_requests_total{endpoint=\"/v1/completions\",code=\"200\"} 1\n"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("engine_sim_requests_total{endpoint=\"other\",code=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("engine_sim_generation_tokens_total 7\n"), std::string::npos);
  EXPECT_NE(r.body.find("engine_sim_prompt_tokens_total 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("# TYPE engine_sim_num_requests_running gauge"), std::string::npos);
}

}  // namespace
}  // namespace dedicated::engine_sim
