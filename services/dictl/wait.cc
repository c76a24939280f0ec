#include "services/dictl/wait.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/dictl/output.h"

namespace dedicated::dictl {
namespace {

// The instance's status, or "" when it cannot be read; the status only decorates the progress line, so
// a failed read must not fail the wait (a deleted instance is NOT_FOUND by design).
std::string ReadInstanceStatus(Client& client, const std::string& instance_id) {
  if (instance_id.empty()) return "";
  v1::GetInstanceRequest request;
  request.set_instance_id(instance_id);
  v1::Instance instance;
  // One attempt: a retry with backoff would only delay the next poll.
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  if (!client.instances().Get(context.get(), request, &instance).ok()) return "";
  return InstanceStatusName(instance.status());
}

std::string TruncateToWidth(const std::string& line, size_t width) {
  size_t characters = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    // A UTF-8 lead byte starts a character; cut before the one that would not fit.
    bool starts_character = (static_cast<unsigned char>(line[i]) & 0xC0) != 0x80;
    if (starts_character && characters++ == width) return line.substr(0, i);
  }
  return line;
}

class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool live, int width) : out_(out), live_(live), width_(width) {}

  void Update(const std::string& line, const std::string& compact_line, const std::string& state) {
    if (live_) {
      bool fits = width_ <= 1 || DisplayWidth(line) < static_cast<size_t>(width_);
      Rewrite(fits ? line : compact_line);
    } else if (state != last_state_) {
      out_ << line << "\n" << std::flush;
    }
    last_state_ = state;
  }

  void Finish(const std::string& line) {
    if (live_) {
      Rewrite(line);
      out_ << "\n";
    } else {
      out_ << line << "\n";
    }
    out_ << std::flush;
  }

  // Leaves the cursor on a fresh line, so that an error message that follows is not glued to the
  // progress line.
  void Abort() {
    if (live_ && last_width_ > 0) out_ << "\n" << std::flush;
  }

 private:
  void Rewrite(std::string line) {
    // One column short of the edge: writing the last column makes some terminals wrap at once.
    if (width_ > 1) line = TruncateToWidth(line, static_cast<size_t>(width_ - 1));
    // Pads with spaces rather than using terminal escapes, so that any terminal clears the tail of a
    // longer previous line.
    std::string padded = line;
    size_t width = DisplayWidth(line);
    if (width < last_width_) padded.append(last_width_ - width, ' ');
    out_ << "\r" << padded << std::flush;
    last_width_ = width;
  }

  std::ostream& out_;
  bool live_;
  int width_;
  std::string last_state_;
  size_t last_width_ = 0;
};

}  // namespace

std::string ProgressLine(const v1::Operation& operation, const std::string& instance_status,
                         absl::Duration elapsed, bool compact) {
  std::string line = absl::StrCat("Waiting for operation ", operation.id());
  std::string what = DescribeOperation(operation);
  if (!what.empty() && !compact) absl::StrAppend(&line, " (", what, ")");
  if (!instance_status.empty()) absl::StrAppend(&line, ": instance ", instance_status);
  absl::StrAppend(&line, " \u2026 ", absl::ToInt64Seconds(elapsed), "s");
  return line;
}

grpc::Status WaitForOperation(Client& client, v1::Operation& operation, std::ostream& progress,
                              const WaitOptions& options) {
  auto now = [&options] { return options.now ? options.now() : absl::Now(); };
  auto sleep = [&options](absl::Duration d) {
    if (options.sleep) {
      options.sleep(d);
    } else {
      absl::SleepFor(d);
    }
  };
  const absl::Time start = now();
  const std::string instance_id = InstanceIdOf(operation);
  ProgressPrinter printer(progress, options.live, options.terminal_width);
  std::optional<absl::Time> unavailable_since;
  while (!operation.done()) {
    std::string status = unavailable_since ? "unknown (controlplane unavailable, retrying)"
                                           : ReadInstanceStatus(client, instance_id);
    const absl::Duration elapsed = now() - start;
    printer.Update(ProgressLine(operation, status, elapsed), ProgressLine(operation, status, elapsed, true),
                   status);
    sleep(options.poll_interval);

    v1::GetOperationRequest request;
    request.set_operation_id(operation.id());
    v1::Operation polled;
    grpc::Status rpc_status = client.Call(
        [&](grpc::ClientContext* context) { return client.operations().Get(context, request, &polled); });
    if (rpc_status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      if (!unavailable_since) unavailable_since = now();
      if (now() - *unavailable_since < options.unavailable_grace) continue;
    }
    if (!rpc_status.ok()) {
      printer.Abort();
      return rpc_status;
    }
    unavailable_since.reset();
    operation = std::move(polled);
  }
  printer.Finish(absl::StrCat("Operation ", operation.id(), operation.has_error() ? " failed" : " done",
                              " after ", absl::ToInt64Seconds(now() - start), "s"));
  return grpc::Status::OK;
}

}  // namespace dedicated::dictl
