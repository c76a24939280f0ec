// dictl instance deploy|get|list|start|stop|delete|update|operations.

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dedicated/v1/instance_service.grpc.pb.h"
#include "services/common/ids.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/command_kit.h"

namespace dedicated::dictl {
namespace {

using InstanceStub = v1::InstanceService::StubInterface;

class InstanceIdCommand : public IdCommand {
 public:
  InstanceIdCommand() : IdCommand("INSTANCE_ID") {}
};

class Deploy : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("folder", "", &folder_, "folder to create the instance in (required)");
    flags.String("name", "", &name_,
                 "instance name, unique in the folder: [a-z]([-a-z0-9]{0,61}[a-z0-9])? (required)");
    flags.String("model", "", &model_, "catalog model id, see `dictl model list` (required)");
    flags.String("config", "", &config_, "configuration: S, M or L, see `dictl model get` (required)");
    flags.Int("replicas", "", &replicas_, "number of replicas");
    flags.String("description", "", &description_, "free-form description");
    flags.String("labels", "", &labels_text_, "labels as k=v,k2=v2");
    flags.Bool("wait", "", &wait_, "wait until the instance is ACTIVE (or failed) and print it");
    flags.String("idempotency-key", "", &idempotency_key_,
                 "UUID identifying this request; repeating a deploy with the same key returns the same "
                 "operation instead of creating a second instance (default: a new UUID)");
  }

  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    absl::Status required =
        RequireFlags({{"folder", folder_}, {"name", name_}, {"model", model_}, {"config", config_}});
    if (!required.ok()) return required;
    absl::StatusOr<std::string> config = ParseConfiguration(config_);
    if (!config.ok()) return config.status();
    config_ = *config;
    absl::StatusOr<std::map<std::string, std::string>> labels = ParseLabels(labels_text_);
    if (!labels.ok()) return labels.status();
    labels_ = *std::move(labels);
    if (replicas_ < 1) return absl::InvalidArgumentError("--replicas: must be at least 1");
    if (!idempotency_key_.empty() && !IsUuid(idempotency_key_)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--idempotency-key: not a UUID: \"", idempotency_key_, "\""));
    }
    return absl::OkStatus();
  }

  int Run(Client& client, const CommandEnv& env) override {
    v1::CreateInstanceRequest request;
    request.set_folder_id(folder_);
    request.set_name(name_);
    request.set_description(description_);
    request.mutable_labels()->insert(labels_.begin(), labels_.end());
    request.set_model_id(model_);
    request.set_configuration(config_);
    request.set_replica_count(replicas_);
    // One key per invocation, kept across retries: that is what lets the server recognise a retry of a
    // Create it already accepted.
    const std::string key = idempotency_key_.empty() ? NewUuid() : idempotency_key_;
    v1::Operation operation;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.instances().Create(context, request, &operation); },
        CallOptions{.idempotency_key = key});
    if (!status.ok()) {
      int code = ReportRpcError(status, client, env.err);
      // After these the server may have accepted the request; the same key makes a retry safe.
      // (Not when the controlplane was never reached: then nothing was created.)
      bool ambiguous = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                       status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                       status.error_code() == grpc::StatusCode::UNKNOWN;
      if (ambiguous && !IsConnectFailure(status)) {
        env.err << "hint: the instance may have been created; repeat the command with --idempotency-key "
                << key << " to get the same operation instead of a second instance.\n";
      }
      return code;
    }
    return FinishOperation(client, std::move(operation), wait_, env);
  }

 private:
  std::string folder_;
  std::string name_;
  std::string model_;
  std::string config_;
  int64_t replicas_ = 1;
  std::string description_;
  std::string labels_text_;
  std::map<std::string, std::string> labels_;
  bool wait_ = false;
  std::string idempotency_key_;
};

class Get : public InstanceIdCommand {
 public:
  void RegisterFlags(FlagSet&) override {}
  int Run(Client& client, const CommandEnv& env) override {
    v1::GetInstanceRequest request;
    request.set_instance_id(id_);
    v1::Instance instance;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.instances().Get(context, request, &instance); });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return ReportPrint(PrintInstance(instance, env.format, env.out), env);
  }
};

class List : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("folder", "", &folder_, "folder to list (required)");
    flags.String("filter", "", &filter_,
                 "conditions joined by AND: <field> = \"<value>\", field one of status, name, model_id");
    flags.String("order-by", "", &order_by_, "created_at (default), created_at desc, name or name desc");
    flags.Int("page-size", "", &page_size_, "return one page of at most this many instances");
    flags.String("page-token", "", &page_token_, "return the page that starts at this token");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    if (absl::Status s = RequireFlags({{"folder", folder_}}); !s.ok()) return s;
    return ValidatePageSize(page_size_);
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::ListInstancesResponse all;
    grpc::Status status =
        FetchPages(client, page_token_, /*all_pages=*/page_size_ == 0 && page_token_.empty(),
                   [&](grpc::ClientContext* context, const std::string& token, std::string* next) {
                     v1::ListInstancesRequest request;
                     request.set_folder_id(folder_);
                     request.set_page_size(page_size_);
                     request.set_page_token(token);
                     request.set_filter(filter_);
                     request.set_order_by(order_by_);
                     v1::ListInstancesResponse page;
                     grpc::Status s = client.instances().List(context, request, &page);
                     if (s.ok()) {
                       for (auto& instance : *page.mutable_instances())
                         *all.add_instances() = std::move(instance);
                       *next = page.next_page_token();
                       all.set_next_page_token(page.next_page_token());
                     }
                     return s;
                   });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    int code = ReportPrint(PrintInstances(all, env.format, env.out), env);
    HintNextPage(all.next_page_token(), env);
    return code;
  }

 private:
  std::string folder_;
  std::string filter_;
  std::string order_by_;
  int64_t page_size_ = 0;
  std::string page_token_;
};

// start, stop and delete: one id in, one Operation out.
class Action : public InstanceIdCommand {
 public:
  using Rpc =
      std::function<grpc::Status(InstanceStub&, grpc::ClientContext*, const std::string& id, v1::Operation*)>;
  Action(std::string wait_help, Rpc rpc) : wait_help_(std::move(wait_help)), rpc_(std::move(rpc)) {}

  void RegisterFlags(FlagSet& flags) override { flags.Bool("wait", "", &wait_, wait_help_); }
  int Run(Client& client, const CommandEnv& env) override {
    v1::Operation operation;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return rpc_(client.instances(), context, id_, &operation); },
        CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return FinishOperation(client, std::move(operation), wait_, env);
  }

 private:
  std::string wait_help_;
  Rpc rpc_;
  bool wait_ = false;
};

template <typename Request>
Action::Rpc InstanceRpc(grpc::Status (InstanceStub::*method)(grpc::ClientContext*, const Request&,
                                                             v1::Operation*)) {
  return [method](InstanceStub& stub, grpc::ClientContext* context, const std::string& id,
                  v1::Operation* operation) {
    Request request;
    request.set_instance_id(id);
    return (stub.*method)(context, request, operation);
  };
}

class Update : public InstanceIdCommand {
 public:
  void RegisterFlags(FlagSet& flags) override {
    // Repeated flags record whether they were given at all, so --description "" can clear a field.
    flags.Repeated("name", &name_, "new name");
    flags.Repeated("description", &description_, "new description (\"\" clears it)");
    flags.Repeated("labels", &labels_text_, "replace all labels with k=v,k2=v2 (\"\" removes them all)");
    flags.Repeated("config", &config_, "new configuration S, M or L (a rolling update of an ACTIVE instance)");
    flags.Repeated("replicas", &replicas_, "new number of replicas (a rolling update of an ACTIVE instance)");
    flags.Bool("wait", "", &wait_, "wait until the update is done and print the instance");
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::Operation operation;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) {
          return client.instances().Update(context, request_, &operation);
        },
        CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return FinishOperation(client, std::move(operation), wait_, env);
  }

 protected:
  absl::Status ValidateFlags() override {
    request_.Clear();
    request_.set_instance_id(id_);
    // The mask names exactly the flags given: fields not named stay as they are on the server.
    if (const std::string* name = LastValue(name_)) {
      if (name->empty()) return absl::InvalidArgumentError("--name: must not be empty");
      request_.set_name(*name);
      request_.mutable_update_mask()->add_paths("name");
    }
    if (const std::string* description = LastValue(description_)) {
      request_.set_description(*description);
      request_.mutable_update_mask()->add_paths("description");
    }
    if (const std::string* text = LastValue(labels_text_)) {
      absl::StatusOr<std::map<std::string, std::string>> labels = ParseLabels(*text);
      if (!labels.ok()) return labels.status();
      request_.mutable_labels()->insert(labels->begin(), labels->end());
      request_.mutable_update_mask()->add_paths("labels");
    }
    if (const std::string* text = LastValue(config_)) {
      absl::StatusOr<std::string> config = ParseConfiguration(*text);
      if (!config.ok()) return config.status();
      request_.set_configuration(*config);
      request_.mutable_update_mask()->add_paths("configuration");
    }
    if (const std::string* text = LastValue(replicas_)) {
      int64_t replicas = 0;
      if (!absl::SimpleAtoi(*text, &replicas) || replicas < 1) {
        return absl::InvalidArgumentError(absl::StrCat("--replicas: must be a number of at least 1, got \"", *text, "\""));
      }
      request_.set_replica_count(replicas);
      request_.mutable_update_mask()->add_paths("replica_count");
    }
    if (request_.update_mask().paths().empty()) {
      return absl::InvalidArgumentError(
          "nothing to update: give at least one of --name, --description, --labels, --config, --replicas");
    }
    return absl::OkStatus();
  }

 private:
  std::vector<std::string> name_;
  std::vector<std::string> description_;
  std::vector<std::string> labels_text_;
  std::vector<std::string> config_;
  std::vector<std::string> replicas_;
  bool wait_ = false;
  v1::UpdateInstanceRequest request_;
};

class Operations : public InstanceIdCommand {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.Int("page-size", "", &page_size_, "return one page of at most this many operations");
    flags.String("page-token", "", &page_token_, "return the page that starts at this token");
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::ListInstanceOperationsResponse all;
    grpc::Status status =
        FetchPages(client, page_token_, /*all_pages=*/page_size_ == 0 && page_token_.empty(),
                   [&](grpc::ClientContext* context, const std::string& token, std::string* next) {
                     v1::ListInstanceOperationsRequest request;
                     request.set_instance_id(id_);
                     request.set_page_size(page_size_);
                     request.set_page_token(token);
                     v1::ListInstanceOperationsResponse page;
                     grpc::Status s = client.instances().ListOperations(context, request, &page);
                     if (s.ok()) {
                       for (auto& operation : *page.mutable_operations())
                         *all.add_operations() = std::move(operation);
                       *next = page.next_page_token();
                       all.set_next_page_token(page.next_page_token());
                     }
                     return s;
                   });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    int code = ReportPrint(PrintOperations(all, env.format, env.out), env);
    HintNextPage(all.next_page_token(), env);
    return code;
  }

 protected:
  absl::Status ValidateFlags() override { return ValidatePageSize(page_size_); }

 private:
  int64_t page_size_ = 0;
  std::string page_token_;
};

}  // namespace

Group InstanceGroup() {
  return Group{
      .name = "instance",
      .summary = "deploy and manage dedicated model instances",
      .verbs =
          {
              Verb{.name = "deploy",
                   .summary = "create an instance of a catalog model",
                   .usage =
                       "dictl instance deploy --folder F --name N --model M --config S|M|L [--replicas K]\n"
                       "       [--description D] [--labels k=v,...] [--wait] [--idempotency-key UUID]",
                   .description =
                       "Creates an instance: reserves GPUs for each replica of the configuration and starts\n"
                       "the model on them. Prints the operation at once, or with --wait follows it and\n"
                       "prints the instance once it is ACTIVE. The request carries an idempotency key, so\n"
                       "dictl retries it safely when the controlplane is briefly UNAVAILABLE.",
                   .examples =
                       {"dictl instance deploy --folder b1g2 --name chat --model gemma-3-4b-it --config S",
                        "dictl instance deploy --folder b1g2 --name chat --model qwen2.5-7b-instruct "
                        "--config M --replicas 2 --labels env=prod,team=ml --wait"},
                   .make = [] { return std::make_unique<Deploy>(); }},
              Verb{.name = "get",
                   .summary = "show an instance",
                   .usage = "dictl instance get INSTANCE_ID",
                   .description = "Shows the instance, its status and the model URI to call it with.",
                   .examples = {"dictl instance get dinq3v0k8r2m1x7c5b4a",
                                "dictl instance get dinq3v0k8r2m1x7c5b4a --format json"},
                   .make = [] { return std::make_unique<Get>(); }},
              Verb{.name = "list",
                   .summary = "list the instances of a folder",
                   .usage = "dictl instance list --folder F [--filter EXPR] [--order-by X] [--page-size N]\n"
                            "       [--page-token T]",
                   .description =
                       "Lists the instances of a folder. Without --page-size and --page-token all pages are\n"
                       "fetched and printed together.",
                   .examples =
                       {"dictl instance list --folder b1g2",
                        "dictl instance list --folder b1g2 --filter 'status = \"ACTIVE\"' --order-by name",
                        "dictl instance list --folder b1g2 --page-size 10"},
                   .make = [] { return std::make_unique<List>(); }},
              Verb{.name = "start",
                   .summary = "start a stopped instance",
                   .usage = "dictl instance start INSTANCE_ID [--wait]",
                   .description =
                       "Reserves GPUs again and starts the model on them. Billing resumes once the\n"
                       "instance is ACTIVE.",
                   .examples = {"dictl instance start dinq3v0k8r2m1x7c5b4a --wait"},
                   .make =
                       [] {
                         return std::make_unique<Action>("wait until the instance is ACTIVE and print it",
                                                         InstanceRpc(&InstanceStub::Start));
                       }},
              Verb{.name = "stop",
                   .summary = "stop an instance and release its GPUs",
                   .usage = "dictl instance stop INSTANCE_ID [--wait]",
                   .description =
                       "Stops the engines and releases the GPUs; a stopped instance is not billed\n"
                       "and can be started again.",
                   .examples = {"dictl instance stop dinq3v0k8r2m1x7c5b4a --wait"},
                   .make =
                       [] {
                         return std::make_unique<Action>("wait until the instance is STOPPED and print it",
                                                         InstanceRpc(&InstanceStub::Stop));
                       }},
              Verb{.name = "delete",
                   .summary = "delete an instance",
                   .usage = "dictl instance delete INSTANCE_ID [--wait]",
                   .description = "Stops the instance if needed, releases its GPUs and deletes it.",
                   .examples = {"dictl instance delete dinq3v0k8r2m1x7c5b4a",
                                "dictl instance delete dinq3v0k8r2m1x7c5b4a --wait"},
                   .make =
                       [] {
                         return std::make_unique<Action>("wait until the instance is deleted",
                                                         InstanceRpc(&InstanceStub::Delete));
                       }},
              Verb{.name = "update",
                   .summary = "change the name, description, labels, configuration or replicas of an instance",
                   .usage =
                       "dictl instance update INSTANCE_ID [--name N] [--description D] [--labels k=v,...]\n"
                       "       [--config S|M|L] [--replicas K] [--wait]",
                   .description =
                       "Changes only the fields whose flags are given (they form the update mask); at least\n"
                       "one is required. --labels replaces the whole label set.\n"
                       "--config and --replicas on an ACTIVE instance start a rolling update: new replicas\n"
                       "become ready before old ones drain and stop, so the instance keeps serving; if it\n"
                       "fails (no capacity, an engine failing, the deadline, `dictl operation cancel`) it\n"
                       "rolls back. A STOPPED instance takes the new values at its next start.",
                   .examples = {"dictl instance update dinq3v0k8r2m1x7c5b4a --name chat-v2",
                                "dictl instance update dinq3v0k8r2m1x7c5b4a --labels env=prod --description "
                                "'' --wait",
                                "dictl instance update dinq3v0k8r2m1x7c5b4a --config M --replicas 2 --wait"},
                   .make = [] { return std::make_unique<Update>(); }},
              Verb{.name = "operations",
                   .summary = "list the operations of an instance",
                   .usage = "dictl instance operations INSTANCE_ID [--page-size N] [--page-token T]",
                   .description =
                       "Lists the operations run on the instance, in the order the server returns them.\n"
                       "Without --page-size and --page-token all pages are printed.",
                   .examples = {"dictl instance operations dinq3v0k8r2m1x7c5b4a"},
                   .make = [] { return std::make_unique<Operations>(); }},
          },
  };
}

}  // namespace dedicated::dictl
