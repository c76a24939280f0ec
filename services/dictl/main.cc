// dictl: the command-line client of the Dedicated Instances API. See README.md.

#include <sys/ioctl.h>
#include <unistd.h>

#include <iostream>

#include "services/common/flags.h"
#include "services/dictl/cli.h"

int main(int argc, char** argv) {
  dedicated::dictl::Runtime runtime;
  // The progress line goes to stderr, so that is the stream whose terminal matters.
  runtime.progress_is_terminal = isatty(STDERR_FILENO) == 1;
  if (winsize size{}; runtime.progress_is_terminal && ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0) {
    runtime.terminal_width = size.ws_col;
  }
  return dedicated::dictl::RunDictl(dedicated::ArgsFrom(argc, argv), std::cout, std::cerr, runtime);
}
