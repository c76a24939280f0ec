#include "services/engine_sim/tokenizer.h"

#include <gtest/gtest.h>

namespace dedicated::engine_sim {
namespace {

TEST(CountTokensTest, WordsAndPunctuationEachCount) {
  EXPECT_EQ(CountTokens(""), 0);
  EXPECT_EQ(CountTokens("   \n\t "), 0);
  EXPECT_EQ(CountTokens("hello"), 1);
  EXPECT_EQ(CountTokens("Hello, world!"), 4);
  EXPECT_EQ(CountTokens("a  b\nc"), 3);
  EXPECT_EQ(CountTokens("snake_case x2"), 2);
  EXPECT_EQ(CountTokens("...?"), 4);
}

TEST(CountTokensTest, Utf8WordsStayWhole) {
  EXPECT_EQ(CountTokens("привет мир"), 2);
  EXPECT_EQ(CountTokens("héllo"), 1);
}

TEST(SyntheticTextTest, IsDeterministicAndHasExactlyTheRequestedTokens) {
  EXPECT_EQ(SyntheticText(0), "");
  EXPECT_EQ(SyntheticText(3), "lorem ipsum dolor");
  EXPECT_EQ(SyntheticToken(0), "lorem");
  EXPECT_EQ(SyntheticToken(1), " ipsum");
  for (int n : {1, 2, 31, 32, 33, 100, 1000}) {
    std::string concatenated;
    for (int i = 0; i < n; ++i) concatenated += SyntheticToken(i);
    EXPECT_EQ(concatenated, SyntheticText(n));
    EXPECT_EQ(CountTokens(SyntheticText(n)), n) << n;
  }
  EXPECT_EQ(SyntheticText(50), SyntheticText(50));
}

}  // namespace
}  // namespace dedicated::engine_sim
