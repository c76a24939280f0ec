#include "services/node_agent/command_template.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace dedicated::node_agent {
namespace {

bool IsPlaceholderName(absl::string_view name) {
  if (name.empty()) return false;
  if (!absl::ascii_isalpha(name[0]) && name[0] != '_') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

std::string JoinGpuIds(const std::vector<int64_t>& gpu_indices) { return absl::StrJoin(gpu_indices, ","); }

absl::StatusOr<std::vector<std::string>> SubstituteArgv(const std::vector<std::string>& argv,
                                                        const TemplateValues& values) {
  const std::string port = absl::StrCat(values.port);
  const std::string gpu_ids = JoinGpuIds(values.gpu_indices);
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (size_t i = 0; i < argv.size(); ++i) {
    absl::string_view in = argv[i];
    std::string result;
    size_t pos = 0;
    while (pos < in.size()) {
      size_t open = in.find('{', pos);
      if (open == absl::string_view::npos) break;
      size_t close = in.find('}', open + 1);
      if (close == absl::string_view::npos) break;
      absl::string_view name = in.substr(open + 1, close - open - 1);
      absl::StrAppend(&result, in.substr(pos, open - pos));
      if (name == "host") {
        result += values.host;
      } else if (name == "port") {
        result += port;
      } else if (name == "gpu_ids") {
        result += gpu_ids;
      } else if (name == "engine_sim") {
        result += values.engine_sim;
      } else if (IsPlaceholderName(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("engine_commands.argv[", i, "]: placeholder {", name, "} was not filled in"));
      } else {
        // Not a placeholder (e.g. JSON): keep the '{' and rescan right after it.
        result += '{';
        pos = open + 1;
        continue;
      }
      pos = close + 1;
    }
    absl::StrAppend(&result, in.substr(pos));
    out.push_back(std::move(result));
  }
  return out;
}

std::vector<std::string> AdaptArgvForEngine(absl::string_view engine_kind, std::vector<std::string> argv) {
  if (engine_kind != "vllm") return argv;
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (size_t i = 0; i < argv.size(); ++i) {
    if (!out.empty() && out.back() == "--served-model-name") {
      for (absl::string_view name : absl::StrSplit(argv[i], ',', absl::SkipWhitespace())) {
        out.emplace_back(absl::StripAsciiWhitespace(name));
      }
      continue;
    }
    out.push_back(std::move(argv[i]));
  }
  return out;
}

}  // namespace dedicated::node_agent
