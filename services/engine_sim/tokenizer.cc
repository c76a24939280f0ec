#include "services/engine_sim/tokenizer.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "services/engine_sim/string_view_compat.h"

namespace dedicated::engine_sim {
namespace {

// All lowercase letters, no punctuation: each entry counts as exactly one token under CountTokens.
constexpr std::array<std::string_view, 32> kWords = {
    "lorem",   "ipsum",        "dolor",   "sit",     "amet",       "consectetur", "adipiscing", "elit",
    "sed",     "do",           "eiusmod", "tempor",  "incididunt", "ut",          "labore",     "et",
    "dolore",  "magna",        "aliqua",  "enim",    "ad",         "minim",       "veniam",     "quis",
    "nostrud", "exercitation", "ullamco", "laboris", "nisi",       "aliquip",     "ex",         "ea"};

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

int64_t CountTokens(std::string_view text) {
  int64_t tokens = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    if (IsWordByte(c)) {
      if (!in_word) ++tokens;
      in_word = true;
    } else {
      in_word = false;
      if (!IsSpace(c)) ++tokens;
    }
  }
  return tokens;
}

std::string SyntheticToken(int64_t index) {
  std::string_view word = kWords[static_cast<size_t>(index) % kWords.size()];
  return index == 0 ? std::string(word) : absl::StrCat(" ", ToAbsl(word));
}

std::string SyntheticText(int64_t token_count) {
  std::string text;
  for (int64_t i = 0; i < token_count; ++i) text += SyntheticToken(i);
  return text;
}

}  // namespace dedicated::engine_sim
