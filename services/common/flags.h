#pragma once
// A small command-line flag set: --name=value or --name value, each flag optionally backed by an
// environment variable, generated --help. Chosen over absl flags because every binary here has verbs
// (controlplane serve|migrate, dictl instance deploy ...) with their own flag sets.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace dedicated {

class FlagSet {
 public:
  explicit FlagSet(std::string usage) : usage_(std::move(usage)) {}

  // `env` may be empty. The target holds the default on entry; the environment overrides it, the
  // command line overrides both.
  void String(std::string name, std::string env, std::string* target, std::string help);
  void Int(std::string name, std::string env, int64_t* target, std::string help);
  void Bool(std::string name, std::string env, bool* target, std::string help);
  // Accepts absl durations: "500ms", "10s", "1m".
  void Duration(std::string name, std::string env, absl::Duration* target, std::string help);
  // A flag that may be given several times; each value is appended.
  void Repeated(std::string name, std::vector<std::string>* target, std::string help);

  // Parses args (without the program name). Positional arguments are collected in positional().
  // A bad value or unknown flag is INVALID_ARGUMENT naming the flag. "--help"/"-h" sets help_requested().
  absl::Status Parse(const std::vector<std::string>& args);

  const std::vector<std::string>& positional() const { return positional_; }
  bool help_requested() const { return help_requested_; }
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string env;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<absl::Status(const std::string&)> set;
  };
  Flag* Find(const std::string& name);
  void Add(Flag flag);

  std::string usage_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

// argv[1..argc) as strings.
std::vector<std::string> ArgsFrom(int argc, char** argv, int first = 1);

}  // namespace dedicated
