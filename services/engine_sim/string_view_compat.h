#pragma once
// Three string_view types meet here: Debian's Abseil is built with its own absl::string_view (not an
// alias of std::string_view), and Beast 1.74 uses boost::string_view. These convert explicitly at the
// edges; everything of ours takes std::string_view.

#include <boost/beast/core/string.hpp>
#include <string_view>

#include "absl/strings/string_view.h"

namespace dedicated::engine_sim {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }
inline std::string_view ToStd(boost::beast::string_view s) { return {s.data(), s.size()}; }

}  // namespace dedicated::engine_sim
