#include "services/gateway/completion_fields.h"

#include <gtest/gtest.h>

namespace dedicated::gateway {
namespace {

using Problem = CompletionFields::Problem;

TEST(CompletionFields, ReadsModelAndStream) {
  CompletionFields f = ScanCompletionFields(
      R"({"model":"dedicated://f/i","messages":[{"role":"user","content":"hi","model":"nested"}],"stream":true})");
  EXPECT_EQ(f.problem, Problem::kNone);
  EXPECT_EQ(f.model, "dedicated://f/i") << "a nested `model` is not the request's";
  EXPECT_TRUE(f.stream);

  f = ScanCompletionFields(R"( {"stream": null, "model": "m\u00e9"} )");
  EXPECT_EQ(f.problem, Problem::kNone);
  EXPECT_EQ(f.model, "m\xc3\xa9") << "escapes are decoded";
  EXPECT_FALSE(f.stream) << "null is the default";

  f = ScanCompletionFields(R"({"model":"a","stream":{"stream":true},"x":[1,2,{"model":5}]})");
  EXPECT_EQ(f.problem, Problem::kStreamNotBoolean);
}

TEST(CompletionFields, TheLastOfARepeatedMemberCounts) {
  CompletionFields f = ScanCompletionFields(R"({"model":"a","stream":true,"model":"b","stream":false})");
  EXPECT_EQ(f.problem, Problem::kNone);
  EXPECT_EQ(f.model, "b");
  EXPECT_FALSE(f.stream);
  EXPECT_EQ(ScanCompletionFields(R"({"model":"a","model":7})").problem, Problem::kNoModel);
  EXPECT_EQ(ScanCompletionFields(R"({"model":"a","stream":"yes","stream":true})").problem, Problem::kNone);
}

TEST(CompletionFields, NamesTheProblem) {
  for (const char* body : {"", "{", "[]", "\"model\"", "42", "null", R"({"model":"a"} trailing)", R"({"model":"a",})",
                           "{\"model\":\"a\"}{}", "{'model':'a'}"}) {
    EXPECT_EQ(ScanCompletionFields(body).problem, Problem::kNotAJsonObject) << body;
  }
  for (const char* body : {"{}", R"({"model":null})", R"({"model":["a"]})", R"({"model":{"id":"a"}})",
                           R"({"messages":[{"model":"a"}]})"}) {
    EXPECT_EQ(ScanCompletionFields(body).problem, Problem::kNoModel) << body;
  }
  for (const char* body :
       {R"({"model":"a","stream":1})", R"({"model":"a","stream":"true"})", R"({"model":"a","stream":[]})"}) {
    EXPECT_EQ(ScanCompletionFields(body).problem, Problem::kStreamNotBoolean) << body;
  }
}

}  // namespace
}  // namespace dedicated::gateway
