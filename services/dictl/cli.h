#pragma once
// dictl's entry point as a library function: `dictl [global flags] <group> <verb> [args] [flags]`.

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/dictl/rpc.h"

namespace dedicated::dictl {

// How dictl meets the outside world; main() fills in the real one, tests make time instant.
struct Runtime {
  // stderr (where the progress line goes) is a terminal: rewrite the line in place.
  bool progress_is_terminal = false;
  // Its width in columns, 0 if unknown.
  int terminal_width = 0;
  absl::Duration poll_interval = absl::Seconds(1);
  RetryPolicy retry;
  // Where the search for .local/admin.key starts (see credentials.h); empty: the current directory.
  std::string working_dir;
  // Null means absl::SleepFor / absl::Now.
  std::function<void(absl::Duration)> sleep;
  std::function<absl::Time()> now;
};

// Runs one dictl command line (without the program name) and returns its exit code (exit_codes.h).
// Results go to `out`; errors, hints and the progress line go to `err`.
int RunDictl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
             const Runtime& runtime = {});

}  // namespace dedicated::dictl
