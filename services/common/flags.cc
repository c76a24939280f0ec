#include "services/common/flags.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"

namespace dedicated {

void FlagSet::Add(Flag flag) { flags_.push_back(std::move(flag)); }

void FlagSet::String(std::string name, std::string env, std::string* target, std::string help) {
  Flag f{name, env, help, *target, false, [target](const std::string& v) {
           *target = v;
           return absl::OkStatus();
         }};
  Add(std::move(f));
}

void FlagSet::Int(std::string name, std::string env, int64_t* target, std::string help) {
  Flag f{name, env, help, absl::StrCat(*target), false,
         [target, name](const std::string& v) {
           int64_t parsed;
           if (!absl::SimpleAtoi(v, &parsed)) {
             return absl::InvalidArgumentError(absl::StrCat("--", name, ": not an integer: \"", v, "\""));
           }
           *target = parsed;
           return absl::OkStatus();
         }};
  Add(std::move(f));
}

void FlagSet::Bool(std::string name, std::string env, bool* target, std::string help) {
  Flag f{name, env, help, *target ? "true" : "false", true,
         [target, name](const std::string& v) {
           std::string lower = absl::AsciiStrToLower(v);
           if (lower == "true" || lower == "1" || lower == "yes" || lower.empty()) {
             *target = true;
           } else if (lower == "false" || lower == "0" || lower == "no") {
             *target = false;
           } else {
             return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a boolean: \"", v, "\""));
           }
           return absl::OkStatus();
         }};
  Add(std::move(f));
}

void FlagSet::Duration(std::string name, std::string env, absl::Duration* target, std::string help) {
  Flag f{name, env, help, absl::FormatDuration(*target), false,
         [target, name](const std::string& v) {
           absl::Duration d;
           if (!absl::ParseDuration(v, &d)) {
             return absl::InvalidArgumentError(
                 absl::StrCat("--", name, ": not a duration (e.g. 500ms, 10s, 1m): \"", v, "\""));
           }
           *target = d;
           return absl::OkStatus();
         }};
  Add(std::move(f));
}

void FlagSet::Repeated(std::string name, std::vector<std::string>* target, std::string help) {
  Flag f{name, "", help, "", false, [target](const std::string& v) {
           target->push_back(v);
           return absl::OkStatus();
         }};
  Add(std::move(f));
}

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  // Environment first, so that the command line wins.
  for (Flag& f : flags_) {
    if (f.env.empty()) continue;
    if (const char* value = std::getenv(f.env.c_str()); value != nullptr && *value != '\0') {
      absl::Status s = f.set(value);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(s.message(), " (from $", f.env, ")"));
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (arg == "--") {
      for (size_t j = i + 1; j < args.size(); ++j) positional_.push_back(args[j]);
      break;
    }
    if (arg.size() < 3 || arg.rfind("--", 0) != 0) {
      positional_.push_back(arg);
      continue;
    }
    std::string body = arg.substr(2);
    std::string name = body;
    std::string value;
    bool has_value = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    if (absl::Status s = flag->set(value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string FlagSet::Help() const {
  std::string out = usage_;
  if (!out.empty() && out.back() != '\n') out += "\n";
  if (flags_.empty()) return out;
  out += "\nFlags:\n";
  for (const Flag& f : flags_) {
    std::string head = absl::StrCat("  --", f.name);
    if (!f.is_bool) absl::StrAppend(&head, " VALUE");
    absl::StrAppend(&out, head, "\n      ", f.help);
    if (!f.default_text.empty()) absl::StrAppend(&out, " (default: ", f.default_text, ")");
    if (!f.env.empty()) absl::StrAppend(&out, " [env ", f.env, "]");
    out += "\n";
  }
  return out;
}

std::vector<std::string> ArgsFrom(int argc, char** argv, int first) {
  std::vector<std::string> out;
  for (int i = first; i < argc; ++i) out.emplace_back(argv[i]);
  return out;
}

}  // namespace dedicated
