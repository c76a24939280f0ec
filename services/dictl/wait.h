#pragma once
// Waiting for an Operation, with a progress line for the person watching.

#include <functional>
#include <ostream>

#include "absl/time/time.h"
#include "dedicated/v1/operation.pb.h"
#include "services/dictl/rpc.h"

namespace dedicated::dictl {

struct WaitOptions {
  absl::Duration poll_interval = absl::Seconds(1);
  // On a terminal one line is rewritten in place (\r); in a log file a line is written only when the
  // status changes, so that the file stays readable.
  bool live = false;
  // Columns of that terminal; a live line longer than this would wrap, and \r would then rewrite only
  // its last row. 0: unknown, never cut.
  int terminal_width = 0;
  // A controlplane that restarts is UNAVAILABLE for a while; polling goes on through that for this
  // long before giving up (the operation itself runs on regardless).
  absl::Duration unavailable_grace = absl::Minutes(2);
  // Tests replace these to run without real time. Null means absl::SleepFor / absl::Now.
  std::function<void(absl::Duration)> sleep;
  std::function<absl::Time()> now;
};

// "Waiting for operation <id> (create instance <iid>): instance STARTING … 12s". `instance_status` may
// be empty (not known or not an instance operation). The compact form leaves out the part in
// parentheses, for narrow terminals.
std::string ProgressLine(const v1::Operation& operation, const std::string& instance_status,
                         absl::Duration elapsed, bool compact = false);

// Polls OperationService.Get until `operation` is done, writing progress to `progress`. When the
// operation is about an instance, also reads the instance to show its status. Returns OK once
// `operation` holds the final state (which itself may carry an error), or the RPC error that stopped
// polling.
grpc::Status WaitForOperation(Client& client, v1::Operation& operation, std::ostream& progress,
                              const WaitOptions& options);

}  // namespace dedicated::dictl
