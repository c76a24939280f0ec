#pragma once
// The fixture of the command tests: dictl run in-process against a FakeControlplane, with instant sleeps
// and an API key in $DICTL_API_KEY, so that no "no API key" hint lands in the output and no key file of
// the machine running the tests is read. Test-only.

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/dictl/cli.h"
#include "services/dictl/fake_controlplane.h"

namespace dedicated::dictl {

struct Result {
  int code;
  std::string out;
  std::string err;
};

class CommandTestBase : public ::testing::Test {
 protected:
  static constexpr char kTestApiKey[] = "dik_test-key";

  void SetUp() override {
    unsetenv("DICTL_ENDPOINT");
    unsetenv("DICTL_FORMAT");
    unsetenv("DICTL_KEY_FILE");
    setenv("DICTL_API_KEY", kTestApiKey, 1);
    runtime_.poll_interval = absl::Milliseconds(1);
    runtime_.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
  }
  void TearDown() override { unsetenv("DICTL_API_KEY"); }

  // Runs dictl against the fake; the sleeps asked for are recorded.
  Result Run(std::vector<std::string> args) {
    args.push_back("--endpoint");
    args.push_back(fake_.endpoint());
    return RunRaw(args);
  }

  Result RunRaw(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    int code = RunDictl(args, out, err, runtime_);
    return {code, out.str(), err.str()};
  }

  testing::FakeControlplane fake_;
  std::vector<absl::Duration> sleeps_;
  // Tests may change it before Run (working_dir, now).
  Runtime runtime_;
};

}  // namespace dedicated::dictl
