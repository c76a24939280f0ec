#pragma once
// dictl's exit codes; scripts depend on them (see README.md).

namespace dedicated::dictl {

inline constexpr int kExitOk = 0;
// An RPC failed, or the operation that was waited for ended with an error.
inline constexpr int kExitFailure = 1;
// The command line was wrong; nothing was sent.
inline constexpr int kExitUsage = 2;

}  // namespace dedicated::dictl
