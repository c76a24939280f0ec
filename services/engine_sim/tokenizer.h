#pragma once
// engine-sim has no model and no vocabulary, so token counts and generated text follow two simple,
// deterministic rules. They are documented in README.md because clients and benchmarks rely on them.

#include <cstdint>
#include <string>
#include <string_view>

namespace dedicated::engine_sim {

// Counts prompt tokens: every maximal run of word characters (ASCII letters, digits, '_' and any byte
// >= 0x80, so UTF-8 words stay whole) is one token, and every other non-whitespace character is one
// token on its own. "Hello, world!" is 4 tokens.
int64_t CountTokens(std::string_view text);

// The `index`-th (0-based) generated token as it appears in the output text: words cycle through a fixed
// lorem-ipsum list, every token after the first carries its leading space. Concatenating tokens
// 0..n-1 gives SyntheticText(n), and CountTokens(SyntheticText(n)) == n.
std::string SyntheticToken(int64_t index);
std::string SyntheticText(int64_t token_count);

}  // namespace dedicated::engine_sim
