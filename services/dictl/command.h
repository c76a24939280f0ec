#pragma once
// What every verb looks like: it registers its flags, validates what it was given (a failure is a usage
// error, exit 2, and nothing is sent), then runs against the API and returns an exit code.

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dedicated/v1/operation.pb.h"
#include "services/common/flags.h"
#include "services/dictl/exit_codes.h"
#include "services/dictl/output.h"
#include "services/dictl/rpc.h"
#include "services/dictl/wait.h"

namespace dedicated::dictl {

// Where a command writes and how.
struct CommandEnv {
  std::ostream& out;
  // Errors and the progress line; keeping them off `out` keeps `--format json` output parseable.
  std::ostream& err;
  OutputFormat format = OutputFormat::kTable;
  WaitOptions wait;
};

class Command {
 public:
  virtual ~Command() = default;
  virtual void RegisterFlags(FlagSet& flags) = 0;
  // Called after parsing with the positional arguments that follow the verb.
  virtual absl::Status Validate(const std::vector<std::string>& positional) = 0;
  virtual int Run(Client& client, const CommandEnv& env) = 0;
};

struct Verb {
  std::string name;
  // One line for the group's help.
  std::string summary;
  // e.g. "dictl instance get ID".
  std::string usage;
  // What it does, for the verb's help.
  std::string description;
  std::vector<std::string> examples;
  std::function<std::unique_ptr<Command>()> make;
};

struct Group {
  std::string name;
  std::string summary;
  std::vector<Verb> verbs;
  // The group is itself the command (`dictl usage --folder F ...`): its one verb runs without being named
  // (naming it still works).
  bool single_verb = false;
};

Group InstanceGroup();
Group OperationGroup();
Group ModelGroup();
Group CloudGroup();
Group FolderGroup();
Group ServiceAccountGroup();
Group UserAccountGroup();
Group ApiKeyGroup();
Group AccessBindingGroup();
Group NodeGroup();
Group UsageGroup();

// For verbs that return an Operation. Without `wait` prints it. With `wait` follows it to the end and
// prints the result: the Instance, or for other responses the final Operation; a failed operation is
// "error: <CODE_NAME>: <message>" on stderr and exit 1.
int FinishOperation(Client& client, v1::Operation operation, bool wait, const CommandEnv& env);

// For verbs whose operations the server normally finishes before it answers (clouds, folders, access
// bindings): reports the result at once when the operation is done, otherwise waits for it like
// FinishOperation with `wait` does.
int AwaitOperation(Client& client, v1::Operation operation, const CommandEnv& env);

// How a done operation ended: its error on stderr (exit 1), or its result on stdout: the Instance, Cloud
// or Folder it returned, in table mode the Node it returned (drain, undrain) or a one-line confirmation
// for deletes and access binding changes, else the operation itself.
int ReportOperationOutcome(const v1::Operation& operation, const CommandEnv& env);

// Exit code for a print: a JSON conversion failure is reported like an RPC error.
int ReportPrint(const absl::Status& printed, const CommandEnv& env);

}  // namespace dedicated::dictl
