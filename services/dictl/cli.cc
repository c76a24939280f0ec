#include "services/dictl/cli.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/flags.h"
#include "services/dictl/command.h"
#include "services/dictl/credentials.h"

namespace dedicated::dictl {
namespace {

constexpr char kEndpointEnv[] = "DICTL_ENDPOINT";
constexpr char kFormatEnv[] = "DICTL_FORMAT";

struct GlobalFlags {
  std::string endpoint = kDefaultEndpoint;
  std::string format = "table";
  absl::Duration timeout = absl::Seconds(30);
  std::string key_file;
};

// Global flags take a value each; the scan that finds the group and verb must know to skip it.
bool IsGlobalFlag(absl::string_view name) {
  return name == "endpoint" || name == "format" || name == "timeout" || name == "key-file";
}

void RegisterGlobalFlags(FlagSet& flags, GlobalFlags& global) {
  flags.String("endpoint", kEndpointEnv, &global.endpoint, "controlplane gRPC address, host:port");
  flags.String("format", kFormatEnv, &global.format, "output: table (for people) or json (for scripts)");
  flags.Duration("timeout", "", &global.timeout, "deadline of each RPC, e.g. 30s, 2m");
  // No env fallback here: $DICTL_KEY_FILE ranks below $DICTL_API_KEY, so ResolveApiKey reads it.
  flags.String("key-file", "", &global.key_file, "file holding the API key");
}

std::string GlobalFlagsHelp() {
  return absl::StrCat(
      "Global flags (accepted anywhere on the command line):\n"
      "  --endpoint HOST:PORT\n"
      "      controlplane gRPC address (default: ",
      kDefaultEndpoint, ") [env ", kEndpointEnv,
      "]\n"
      "  --format table|json\n"
      "      output: table (for people) or json (for scripts) (default: table) [env ",
      kFormatEnv,
      "]\n"
      "  --timeout DURATION\n"
      "      deadline of each RPC, e.g. 30s, 2m (default: 30s)\n"
      "  --key-file PATH\n"
      "      file holding the API key, sent as 'authorization: Api-Key <key>'. Without this flag:\n"
      "      $",
      kApiKeyEnv, " (the key itself), then $", kKeyFileEnv, " (a file), then ", kLocalKeyFile,
      "\n"
      "      in the current directory or a parent. With none, calls go out without a key.\n"
      "  --help\n"
      "      show help for dictl, a group or a verb\n");
}

std::vector<Group> AllGroups() {
  return {InstanceGroup(),       OperationGroup(),   ModelGroup(),  CloudGroup(),        FolderGroup(),
          ServiceAccountGroup(), UserAccountGroup(), ApiKeyGroup(), AccessBindingGroup(), NodeGroup(),
          UsageGroup()};
}

std::string TopLevelHelp(const std::vector<Group>& groups) {
  std::string text =
      "dictl: the command-line client of Dedicated Instances.\n\n"
      "Usage: dictl [global flags] <group> <verb> [args] [flags]\n\nGroups:\n";
  size_t width = 0;
  for (const Group& group : groups) width = std::max(width, group.name.size());
  for (const Group& group : groups) {
    absl::StrAppend(&text, "  ", group.name, std::string(width - group.name.size() + 2, ' '), group.summary,
                    "\n");
  }
  absl::StrAppend(
      &text, "\n", GlobalFlagsHelp(),
      "\nExit codes: 0 success; 1 an RPC failed or the awaited operation ended with an error;\n"
      "2 usage error (nothing was sent).\n\n"
      "Examples:\n"
      "  dictl model list\n"
      "  dictl instance deploy --folder b1g2 --name chat --model gemma-3-4b-it --config S --wait\n"
      "  dictl instance list --folder b1g2 --format json\n"
      "  DICTL_ENDPOINT=cp.example.net:50051 dictl operation wait dop3v0k8r2m1x7c5b4a9\n"
      "  dictl --key-file ~/.config/dictl/ci.key folder list --cloud b1gc\n\n"
      "Run 'dictl <group> --help' for the verbs of a group.\n");
  return text;
}

std::string GroupHelp(const Group& group) {
  std::string text = absl::StrCat("Usage: dictl ", group.name, " <verb> [args] [flags]\n\n", "dictl ",
                                  group.name, ": ", group.summary, ".\n\nVerbs:\n");
  size_t width = 0;
  for (const Verb& verb : group.verbs) width = std::max(width, verb.name.size());
  for (const Verb& verb : group.verbs) {
    absl::StrAppend(&text, "  ", verb.name, std::string(width - verb.name.size() + 2, ' '), verb.summary,
                    "\n");
  }
  text += "\nExamples:\n";
  for (const Verb& verb : group.verbs) {
    if (!verb.examples.empty()) absl::StrAppend(&text, "  ", verb.examples.front(), "\n");
  }
  absl::StrAppend(&text, "\nRun 'dictl ", group.name, " <verb> --help' for the flags of a verb.\n");
  return text;
}

std::string VerbHelp(const Verb& verb) {
  // A flag set with the verb's flags only, for its generated flag list; global flags follow separately.
  std::unique_ptr<Command> command = verb.make();
  FlagSet flags(absl::StrCat("Usage: ", verb.usage, " [global flags]\n\n", verb.description, "\n"));
  command->RegisterFlags(flags);
  std::string text = absl::StrCat(flags.Help(), "\n", GlobalFlagsHelp());
  if (!verb.examples.empty()) {
    text += "\nExamples:\n";
    for (const std::string& example : verb.examples) absl::StrAppend(&text, "  ", example, "\n");
  }
  return text;
}

const Group* FindGroup(const std::vector<Group>& groups, absl::string_view name) {
  for (const Group& group : groups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

const Verb* FindVerb(const Group& group, absl::string_view name) {
  for (const Verb& verb : group.verbs) {
    if (verb.name == name) return &verb;
  }
  return nullptr;
}

// Where the group and the verb are on the command line. Global flags (and their values) may come
// before them; any other flag before the verb is an error, since only the verb knows its flags.
struct CommandLine {
  std::optional<size_t> group;
  std::optional<size_t> verb;
  bool help = false;
  std::string early_flag;
};

CommandLine Locate(const std::vector<std::string>& args) {
  CommandLine line;
  for (size_t i = 0; i < args.size() && !line.verb; ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      line.help = true;
    } else if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      const size_t eq = arg.find('=');
      std::string name = eq == std::string::npos ? arg.substr(2) : arg.substr(2, eq - 2);
      if (!IsGlobalFlag(name)) {
        line.early_flag = name;
        break;
      }
      if (eq == std::string::npos) ++i;  // skips the flag's value
    } else if (!line.group) {
      line.group = i;
    } else {
      line.verb = i;
    }
  }
  return line;
}

bool AsksForHelp(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--") return false;
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

int UsageError(std::ostream& err, const std::string& message, const std::string& help_command) {
  err << "error: " << message << "\nRun '" << help_command << " --help' for usage.\n";
  return kExitUsage;
}

}  // namespace

int RunDictl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
             const Runtime& runtime) {
  const std::vector<Group> groups = AllGroups();
  CommandLine line = Locate(args);

  if (!line.group) {
    if (!line.early_flag.empty()) {
      return UsageError(err, absl::StrCat("unknown flag --", line.early_flag), "dictl");
    }
    if (line.help) {
      out << TopLevelHelp(groups);
      return kExitOk;
    }
    err << "error: missing command\n\n" << TopLevelHelp(groups);
    return kExitUsage;
  }
  const Group* group = FindGroup(groups, args[*line.group]);
  if (group == nullptr) {
    std::vector<std::string> names;
    for (const Group& g : groups) names.push_back(g.name);
    return UsageError(err,
                      absl::StrCat("unknown command group \"", args[*line.group],
                                   "\" (groups: ", absl::StrJoin(names, ", "), ")"),
                      "dictl");
  }
  const std::string group_command = absl::StrCat("dictl ", group->name);
  std::optional<size_t> implicit_verb_of_group;
  if (group->single_verb &&
      (!line.verb || FindVerb(*group, args[*line.verb]) == nullptr)) {
    // `dictl usage --folder F ...`: the group is the command. Its flags are the verb's, so the early-flag
    // scan above stopped at the first of them; everything after the group goes to the verb.
    implicit_verb_of_group = line.group;
    line.verb = line.group;
    line.early_flag.clear();
  }
  if (!line.verb) {
    if (!line.early_flag.empty()) {
      return UsageError(err,
                        absl::StrCat("unknown flag --", line.early_flag, " for '", group_command,
                                     "' (a verb's flags go after the verb)"),
                        group_command);
    }
    if (line.help) {
      out << GroupHelp(*group);
      return kExitOk;
    }
    err << "error: missing verb for '" << group_command << "'\n\n" << GroupHelp(*group);
    return kExitUsage;
  }
  const Verb* verb = implicit_verb_of_group ? &group->verbs.front() : FindVerb(*group, args[*line.verb]);
  if (verb == nullptr) {
    std::vector<std::string> names;
    for (const Verb& v : group->verbs) names.push_back(v.name);
    return UsageError(err,
                      absl::StrCat("unknown verb \"", args[*line.verb], "\" for '", group_command,
                                   "' (verbs: ", absl::StrJoin(names, ", "), ")"),
                      group_command);
  }
  const std::string verb_command =
      implicit_verb_of_group ? group_command : absl::StrCat(group_command, " ", verb->name);

  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i != *line.group && i != *line.verb) rest.push_back(args[i]);
  }
  // Help wins over any other mistake on the line: whoever asked for it is finding out how to fix it.
  if (AsksForHelp(rest)) {
    out << VerbHelp(*verb);
    return kExitOk;
  }

  std::unique_ptr<Command> command = verb->make();
  GlobalFlags global;
  FlagSet flags(verb->usage);
  command->RegisterFlags(flags);
  RegisterGlobalFlags(flags, global);
  if (absl::Status parsed = flags.Parse(rest); !parsed.ok()) {
    return UsageError(err, std::string(parsed.message()), verb_command);
  }
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(global.format);
  if (!format.ok()) {
    return UsageError(err, absl::StrCat(format.status().message(), " (from --format or $", kFormatEnv, ")"),
                      verb_command);
  }
  if (*format == OutputFormat::kCsv && !group->single_verb) {
    return UsageError(err, "--format csv: only 'dictl usage' prints CSV; use table or json", verb_command);
  }
  if (global.timeout <= absl::ZeroDuration()) {
    return UsageError(err, "--timeout: must be positive", verb_command);
  }
  if (global.endpoint.empty()) return UsageError(err, "--endpoint: must not be empty", verb_command);
  if (absl::Status valid = command->Validate(flags.positional()); !valid.ok()) {
    return UsageError(err, std::string(valid.message()), verb_command);
  }

  // After validation, so that a usage error never depends on (or reads) a key file.
  absl::StatusOr<ApiKey> key =
      ResolveApiKey(KeySources{.key_file_flag = global.key_file, .working_dir = runtime.working_dir});
  if (!key.ok()) return UsageError(err, std::string(key.status().message()), verb_command);
  for (const std::string& warning : key->warnings) err << "warning: " << warning << "\n";
  // The call still goes out: the server decides what needs a key, and its answer says what is wrong.
  if (key->secret.empty()) err << "hint: " << kNoApiKeyHint << "\n";

  std::unique_ptr<Client> client = Client::Connect(ClientOptions{.endpoint = global.endpoint,
                                                                 .timeout = global.timeout,
                                                                 .retry = runtime.retry,
                                                                 .api_key = key->secret,
                                                                 .api_key_source = key->source,
                                                                 .sleep = runtime.sleep});
  CommandEnv env{.out = out,
                 .err = err,
                 .format = *format,
                 .wait = WaitOptions{.poll_interval = runtime.poll_interval,
                                     .live = runtime.progress_is_terminal,
                                     .terminal_width = runtime.terminal_width,
                                     .sleep = runtime.sleep,
                                     .now = runtime.now}};
  return command->Run(*client, env);
}

}  // namespace dedicated::dictl
