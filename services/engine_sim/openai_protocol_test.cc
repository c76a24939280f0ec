#include "services/engine_sim/openai_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "services/engine_sim/tokenizer.h"

namespace dedicated::engine_sim {
namespace {

using nlohmann::json;

Options TestOptions() {
  Options o;
  o.served_model_names = {"main", "alias"};
  o.context_length = 100;
  o.default_max_tokens = 16;
  return o;
}

absl::StatusOr<GenerationRequest> Chat(const json& body) {
  return ParseGenerationRequest(ApiKind::kChatCompletions, body.dump(), TestOptions(), 1700000000);
}
absl::StatusOr<GenerationRequest> Completion(const json& body) {
  return ParseGenerationRequest(ApiKind::kCompletions, body.dump(), TestOptions(), 1700000000);
}

TEST(ParseGenerationRequestTest, ChatCountsRoleAndContentTokens) {
  auto r = Chat({{"model", "alias"},
                 {"messages",
                  {{{"role", "system"}, {"content", "Be brief."}},
                   {{"role", "user"},
                    {"content", {{{"type", "text"}, {"text", "Hi there"}}, {{"type", "image_url"}}}}}}},
                 {"max_tokens", 3}});
  ASSERT_TRUE(r.ok()) << r.status();
  // system: 1 + 3 ("Be", "brief", "."); user: 1 + 2 + 1 (the image part).
  EXPECT_EQ(r->prompt_tokens, 8);
  EXPECT_EQ(r->max_tokens, 3);
  EXPECT_EQ(r->model, "main");  // Responses report the first served name, whatever alias was used.
  EXPECT_EQ(r->id.rfind("chatcmpl-", 0), 0u);
  EXPECT_FALSE(r->stream);
}

TEST(ParseGenerationRequestTest, MaxCompletionTokensWinsOverMaxTokens) {
  auto r = Chat({{"messages", {{{"role", "user"}, {"content", "x"}}}},
                 {"max_tokens", 3},
                 {"max_completion_tokens", 5}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->max_tokens, 5);
}

TEST(ParseGenerationRequestTest, DefaultMaxTokensShrinksToFitTheContext) {
  auto r = Completion({{"prompt", SyntheticText(90)}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt_tokens, 90);
  EXPECT_EQ(r->max_tokens, 10);
  auto small = Completion({{"prompt", "a b"}});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->max_tokens, 16);
}

TEST(ParseGenerationRequestTest, PromptAcceptsStringsArraysAndTokenIds) {
  EXPECT_EQ(Completion({{"prompt", {"a b", "c"}}})->prompt_tokens, 3);
  EXPECT_EQ(Completion({{"prompt", {1, 2, 3, 4}}})->prompt_tokens, 4);
  auto mixed = Completion({{"prompt", {"a", 1}}});
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Completion({{"prompt", 5}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseGenerationRequestTest, StreamOptions) {
  auto r = Completion({{"prompt", "x"}, {"stream", true}, {"stream_options", {{"include_usage", true}}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->id.rfind("cmpl-", 0), 0u);
  EXPECT_FALSE(Completion({{"prompt", "x"}, {"stream", "yes"}}).ok());
}

TEST(ParseGenerationRequestTest, ErrorsNameTheProblem) {
  auto message = [](const absl::StatusOr<GenerationRequest>& r) { return std::string(r.status().message()); };
  auto bad_json = ParseGenerationRequest(ApiKind::kChatCompletions, "{\"messages\": [", TestOptions(), 0);
  EXPECT_EQ(bad_json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(message(bad_json).find("Malformed JSON"), std::string::npos);
  EXPECT_NE(
      message(ParseGenerationRequest(ApiKind::kChatCompletions, "[1]", TestOptions(), 0)).find("JSON object"),
      std::string::npos);
  EXPECT_NE(message(Chat({{"model", "main"}})).find("`messages` is required"), std::string::npos);
  EXPECT_NE(message(Chat({{"messages", json::array()}})).find("`messages`"), std::string::npos);
  EXPECT_NE(message(Chat({{"messages", {{{"content", "x"}}}}})).find("`messages[0].role`"),
            std::string::npos);
  EXPECT_NE(message(Completion(json::object())).find("`prompt` is required"), std::string::npos);
  EXPECT_NE(message(Completion({{"prompt", "x"}, {"n", 2}})).find("`n` must be 1"), std::string::npos);
  EXPECT_TRUE(Completion({{"prompt", "x"}, {"n", 1}}).ok());
  EXPECT_NE(message(Completion({{"prompt", "x"}, {"max_tokens", 0}})).find("`max_tokens`"),
            std::string::npos);
  EXPECT_NE(message(Completion({{"prompt", "x"}, {"max_tokens", "5"}})).find("`max_tokens`"),
            std::string::npos);
  EXPECT_NE(message(Completion({{"prompt", "x"}, {"max_tokens", 100}})).find("maximum context length is 100"),
            std::string::npos);
  auto unknown = Completion({{"model", "other"}, {"prompt", "x"}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(message(unknown), "The model `other` does not exist.");
}

TEST(ErrorBodyTest, HasOpenAiShape) {
  json body = json::parse(ErrorBody(absl::NotFoundError("The model `x` does not exist.")));
  EXPECT_EQ(body["error"]["message"], "The model `x` does not exist.");
  EXPECT_EQ(body["error"]["type"], "NotFoundError");
  EXPECT_EQ(body["error"]["code"], 404);
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("x")), 400);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("x")), 503);
  // Invalid UTF-8 quoted from a malformed body must not throw.
  EXPECT_NO_THROW(ErrorBody(absl::InvalidArgumentError("bad \xff byte")));
}

TEST(ResponseBodiesTest, ChunksConcatenateToTheFullText) {
  GenerationRequest r;
  r.kind = ApiKind::kChatCompletions;
  r.id = "chatcmpl-1";
  r.model = "main";
  r.prompt_tokens = 2;
  r.max_tokens = 5;
  json full = json::parse(CompletionBody(r));
  std::string streamed;
  for (int i = 0; i < 5; ++i) streamed += json::parse(TokenChunk(r, i))["choices"][0]["delta"]["content"];
  EXPECT_EQ(streamed, full["choices"][0]["message"]["content"]);
  EXPECT_EQ(full["usage"]["total_tokens"], 7);
  EXPECT_EQ(json::parse(FinishChunk(r))["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(json::parse(UsageChunk(r))["choices"].empty());
  EXPECT_EQ(SseEvent("{}"), "data: {}\n\n");
}

}  // namespace
}  // namespace dedicated::engine_sim
