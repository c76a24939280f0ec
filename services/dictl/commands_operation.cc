// dictl operation get|wait|cancel, and how every verb that returns an Operation finishes.

#include "absl/status/status.h"
#include "dedicated/v1/access_binding_service.pb.h"
#include "dedicated/v1/instance.pb.h"
#include "dedicated/v1/instance_service.pb.h"
#include "dedicated/v1/node_admin_service.pb.h"
#include "dedicated/v1/operation_service.grpc.pb.h"
#include "dedicated/v1/resource_service.pb.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {

int ReportPrint(const absl::Status& printed, const CommandEnv& env) {
  if (printed.ok()) return kExitOk;
  env.err << "error: " << StatusCodeName(static_cast<int>(printed.code())) << ": " << printed.message()
          << "\n";
  return kExitFailure;
}

namespace {

// The response of `operation` as a `Message` printed by `print`; false if it is not one.
template <typename Message>
bool TryPrintResponse(const v1::Operation& operation, Printer<Message> print, const CommandEnv& env, int* code) {
  Message message;
  if (!operation.response().Is<Message>() || !operation.response().UnpackTo(&message)) return false;
  *code = ReportPrint(print(message, env.format, env.out), env);
  return true;
}

// The resource whose access bindings the operation changed; "" for other operations.
std::string AccessBindingResourceOf(const v1::Operation& operation) {
  v1::SetAccessBindingsMetadata set;
  if (operation.metadata().UnpackTo(&set)) return set.resource_id();
  v1::UpdateAccessBindingsMetadata update;
  if (operation.metadata().UnpackTo(&update)) return update.resource_id();
  return "";
}

}  // namespace

int ReportOperationOutcome(const v1::Operation& operation, const CommandEnv& env) {
  if (operation.has_error()) {
    env.err << "error: " << StatusCodeName(operation.error().code()) << ": " << operation.error().message()
            << "\n";
    return kExitFailure;
  }
  int code = kExitOk;
  if (TryPrintResponse<v1::Instance>(operation, &PrintInstance, env, &code) ||
      TryPrintResponse<v1::Cloud>(operation, &PrintCloud, env, &code) ||
      TryPrintResponse<v1::Folder>(operation, &PrintFolder, env, &code)) {
    return code;
  }
  // Drain and undrain answer with the node; in JSON the operation itself is printed (its response is
  // the node), like other changes that are not about an instance, cloud or folder.
  if (env.format == OutputFormat::kTable && TryPrintResponse<v1::Node>(operation, &PrintNode, env, &code)) {
    return code;
  }
  // Likewise set-quota, which answers with the folder's quota.
  if (env.format == OutputFormat::kTable &&
      TryPrintResponse<v1::FolderQuota>(operation, &PrintFolderQuota, env, &code)) {
    return code;
  }
  if (env.format == OutputFormat::kTable && operation.metadata().Is<v1::DeleteInstanceMetadata>()) {
    env.out << "Instance " << InstanceIdOf(operation) << " deleted.\n";
    return kExitOk;
  }
  if (std::string resource = AccessBindingResourceOf(operation);
      env.format == OutputFormat::kTable && !resource.empty()) {
    env.out << "Access bindings of " << resource << " updated.\n";
    return kExitOk;
  }
  return ReportPrint(PrintOperation(operation, env.format, env.out), env);
}

int FinishOperation(Client& client, v1::Operation operation, bool wait, const CommandEnv& env) {
  if (!wait) {
    int code = ReportPrint(PrintOperation(operation, env.format, env.out), env);
    if (code == kExitOk && env.format == OutputFormat::kTable && !operation.done()) {
      env.err << "Follow it with: dictl operation wait " << operation.id() << "\n";
    }
    return code;
  }
  grpc::Status status = WaitForOperation(client, operation, env.err, env.wait);
  if (!status.ok()) return ReportRpcError(status, client, env.err);
  return ReportOperationOutcome(operation, env);
}

int AwaitOperation(Client& client, v1::Operation operation, const CommandEnv& env) {
  // Waiting on a done operation would print a progress line about nothing.
  if (operation.done()) return ReportOperationOutcome(operation, env);
  return FinishOperation(client, std::move(operation), /*wait=*/true, env);
}

namespace {

class GetOperation : public Command {
 public:
  void RegisterFlags(FlagSet&) override {}
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {"OPERATION_ID"}); !s.ok()) return s;
    id_ = positional[0];
    return absl::OkStatus();
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::GetOperationRequest request;
    request.set_operation_id(id_);
    v1::Operation operation;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.operations().Get(context, request, &operation); });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return ReportPrint(PrintOperation(operation, env.format, env.out), env);
  }

 protected:
  std::string id_;
};

class WaitOperation : public GetOperation {
 public:
  int Run(Client& client, const CommandEnv& env) override {
    v1::GetOperationRequest request;
    request.set_operation_id(id_);
    v1::Operation operation;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.operations().Get(context, request, &operation); });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return FinishOperation(client, std::move(operation), /*wait=*/true, env);
  }
};

class CancelOperation : public GetOperation {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.Bool("wait", "", &wait_, "wait until the operation has stopped");
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::CancelOperationRequest request;
    request.set_operation_id(id_);
    v1::Operation operation;
    // Cancelling twice is the same as once, so the retry in Call needs no idempotency key.
    grpc::Status status = client.Call([&](grpc::ClientContext* context) {
      return client.operations().Cancel(context, request, &operation);
    });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    if (!wait_) return FinishOperation(client, std::move(operation), /*wait=*/false, env);
    status = WaitForOperation(client, operation, env.err, env.wait);
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    // CANCELLED is what was asked for, so it is success here; anything else is reported as usual.
    if (operation.has_error() && operation.error().code() == grpc::StatusCode::CANCELLED) {
      return ReportPrint(PrintOperation(operation, env.format, env.out), env);
    }
    return ReportOperationOutcome(operation, env);
  }

 private:
  bool wait_ = false;
};

}  // namespace

Group OperationGroup() {
  return Group{
      .name = "operation",
      .summary = "follow, inspect and cancel asynchronous operations",
      .verbs =
          {
              Verb{.name = "get",
                   .summary = "show an operation",
                   .usage = "dictl operation get OPERATION_ID",
                   .description = "Shows the operation: what it does, whether it is done and how it ended.",
                   .examples = {"dictl operation get dop3v0k8r2m1x7c5b4a9",
                                "dictl operation get dop3v0k8r2m1x7c5b4a9 --format json"},
                   .make = [] { return std::make_unique<GetOperation>(); }},
              Verb{.name = "wait",
                   .summary = "wait until an operation is done",
                   .usage = "dictl operation wait OPERATION_ID",
                   .description =
                       "Polls the operation until it is done, with a progress line on stderr, then prints\n"
                       "its result (the instance for instance operations). Exits 1 if the operation\n"
                       "failed, printing \"error: <CODE>: <message>\".",
                   .examples = {"dictl operation wait dop3v0k8r2m1x7c5b4a9"},
                   .make = [] { return std::make_unique<WaitOperation>(); }},
              Verb{
                  .name = "cancel",
                  .summary = "request cancellation of a running operation",
                  .usage = "dictl operation cancel OPERATION_ID [--wait]",
                  .description =
                      "Asks the controlplane to cancel the operation. Cancellation is applied by the worker\n"
                      "that drives it; with --wait dictl follows the operation until it has stopped (it\n"
                      "then ends with CANCELLED, or with its own result if it finished first).",
                  .examples = {"dictl operation cancel dop3v0k8r2m1x7c5b4a9",
                               "dictl operation cancel dop3v0k8r2m1x7c5b4a9 --wait"},
                  .make = [] { return std::make_unique<CancelOperation>(); }},
          },
  };
}

}  // namespace dedicated::dictl
