// dictl cloud create|list|get and dictl folder create|list|get|get-quota|set-quota: the resource hierarchy
// that access bindings attach to, and the folders' quotas.

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dedicated/v1/resource_service.grpc.pb.h"
#include "services/common/ids.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/command_kit.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

using ListClouds = ListCommand<v1::ListCloudsResponse>;
using ListFolders = ListCommand<v1::ListFoldersResponse>;

// Create* returns an Operation the server has normally finished already; AwaitOperation prints the
// Cloud or Folder it returned. The idempotency key makes the retry of an UNAVAILABLE call safe.
int SendCreate(Client& client, const CommandEnv& env,
               const std::function<grpc::Status(grpc::ClientContext*, v1::Operation*)>& rpc) {
  v1::Operation operation;
  grpc::Status status = client.Call([&](grpc::ClientContext* context) { return rpc(context, &operation); },
                                    CallOptions{.idempotency_key = NewUuid()});
  if (!status.ok()) return ReportRpcError(status, client, env.err);
  return AwaitOperation(client, std::move(operation), env);
}

class CreateCloud : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("name", "", request_.mutable_name(), "cloud name (required)");
    flags.String("description", "", request_.mutable_description(), "free-form description");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    return RequireFlags({{"name", request_.name()}});
  }
  int Run(Client& client, const CommandEnv& env) override {
    return SendCreate(client, env, [&](grpc::ClientContext* context, v1::Operation* operation) {
      return client.resources().CreateCloud(context, request_, operation);
    });
  }

 private:
  v1::CreateCloudRequest request_;
};

class CreateFolder : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("cloud", "", request_.mutable_cloud_id(), "cloud to create the folder in (required)");
    flags.String("name", "", request_.mutable_name(), "folder name, unique in the cloud (required)");
    flags.String("description", "", request_.mutable_description(), "free-form description");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    return RequireFlags({{"cloud", request_.cloud_id()}, {"name", request_.name()}});
  }
  int Run(Client& client, const CommandEnv& env) override {
    return SendCreate(client, env, [&](grpc::ClientContext* context, v1::Operation* operation) {
      return client.resources().CreateFolder(context, request_, operation);
    });
  }

 private:
  v1::CreateFolderRequest request_;
};

// --max-instances / --max-gpus: a non-negative count, or "none" for no limit (nullopt).
absl::StatusOr<std::optional<int64_t>> ParseLimit(const std::string& text, const std::string& flag) {
  if (text == "none") return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": must be a number or none, got \"", text, "\""));
  }
  if (value < 0) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": must not be negative"));
  return value;
}

// set-quota replaces both limits: a flag left out (or "none") leaves its field unset, i.e. no limit.
class SetFolderQuota : public IdCommand {
 public:
  SetFolderQuota() : IdCommand("FOLDER_ID") {}
  void RegisterFlags(FlagSet& flags) override {
    flags.String("max-instances", "", &max_instances_,
                 "most instances (not deleted) the folder may hold; none: no limit");
    flags.String("max-gpus", "", &max_gpus_, "most GPUs the folder's instances may hold; none: no limit");
  }
  int Run(Client& client, const CommandEnv& env) override {
    request_.set_folder_id(id_);
    v1::Operation operation;
    // One key per invocation, the same on every retry after UNAVAILABLE.
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.resources().SetFolderQuota(context, request_, &operation); },
        CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    // Table: the quota as it is now (ReportOperationOutcome prints a FolderQuota response); JSON: the operation.
    return AwaitOperation(client, std::move(operation), env);
  }

 protected:
  absl::Status ValidateFlags() override {
    absl::StatusOr<std::optional<int64_t>> instances = ParseLimit(max_instances_, "max-instances");
    if (!instances.ok()) return instances.status();
    absl::StatusOr<std::optional<int64_t>> gpus = ParseLimit(max_gpus_, "max-gpus");
    if (!gpus.ok()) return gpus.status();
    if (instances->has_value()) request_.set_max_instances(**instances);
    if (gpus->has_value()) request_.set_max_gpus(**gpus);
    return absl::OkStatus();
  }

 private:
  std::string max_instances_ = "none";
  std::string max_gpus_ = "none";
  v1::SetFolderQuotaRequest request_;
};

std::unique_ptr<Command> MakeGetFolderQuota() {
  return std::make_unique<GetCommand<v1::FolderQuota>>(
      "FOLDER_ID",
      [](Client& client, grpc::ClientContext* context, const std::string& id, v1::FolderQuota* quota) {
        v1::GetFolderQuotaRequest request;
        request.set_folder_id(id);
        return client.resources().GetFolderQuota(context, request, quota);
      },
      &PrintFolderQuota);
}

std::unique_ptr<Command> MakeGetCloud() {
  return std::make_unique<GetCommand<v1::Cloud>>(
      "CLOUD_ID",
      [](Client& client, grpc::ClientContext* context, const std::string& id, v1::Cloud* cloud) {
        v1::GetCloudRequest request;
        request.set_cloud_id(id);
        return client.resources().GetCloud(context, request, cloud);
      },
      &PrintCloud);
}

std::unique_ptr<Command> MakeListClouds() {
  return std::make_unique<ListClouds>(
      "", "", "clouds",
      [](Client& client, grpc::ClientContext* context, const ListClouds::Request& list, v1::ListCloudsResponse* page) {
        v1::ListCloudsRequest request;
        request.set_page_size(list.page_size);
        request.set_page_token(list.page_token);
        return client.resources().ListClouds(context, request, page);
      },
      &PrintClouds);
}

std::unique_ptr<Command> MakeGetFolder() {
  return std::make_unique<GetCommand<v1::Folder>>(
      "FOLDER_ID",
      [](Client& client, grpc::ClientContext* context, const std::string& id, v1::Folder* folder) {
        v1::GetFolderRequest request;
        request.set_folder_id(id);
        return client.resources().GetFolder(context, request, folder);
      },
      &PrintFolder);
}

std::unique_ptr<Command> MakeListFolders() {
  return std::make_unique<ListFolders>(
      "cloud", "cloud whose folders to list (required)", "folders",
      [](Client& client, grpc::ClientContext* context, const ListFolders::Request& list,
         v1::ListFoldersResponse* page) {
        v1::ListFoldersRequest request;
        request.set_cloud_id(list.parent);
        request.set_page_size(list.page_size);
        request.set_page_token(list.page_token);
        return client.resources().ListFolders(context, request, page);
      },
      &PrintFolders);
}

}  // namespace

Group CloudGroup() {
  return Group{
      .name = "cloud",
      .summary = "create and list clouds, the top of the resource hierarchy",
      .verbs =
          {
              Verb{.name = "create",
                   .summary = "create a cloud",
                   .usage = "dictl cloud create --name N [--description D]",
                   .description = "Creates a cloud and prints it. Folders are created inside a cloud.",
                   .examples = {"dictl cloud create --name acme", "dictl cloud create --name acme --format json"},
                   .make = [] { return std::make_unique<CreateCloud>(); }},
              Verb{.name = "list",
                   .summary = "list clouds",
                   .usage = "dictl cloud list [--page-size N] [--page-token T]",
                   .description = "Lists the clouds the caller can see. Without --page-size and --page-token\n"
                                  "all pages are fetched and printed together.",
                   .examples = {"dictl cloud list", "dictl cloud list --format json"},
                   .make = MakeListClouds},
              Verb{.name = "get",
                   .summary = "show a cloud",
                   .usage = "dictl cloud get CLOUD_ID",
                   .description = "Shows the cloud: id, name, description, creation time.",
                   .examples = {"dictl cloud get b1gc0e8r2m1x7c5b4a9"},
                   .make = MakeGetCloud},
          },
  };
}

Group FolderGroup() {
  return Group{
      .name = "folder",
      .summary = "create and list folders, which hold instances and service accounts; folder quotas",
      .verbs =
          {
              Verb{.name = "create",
                   .summary = "create a folder in a cloud",
                   .usage = "dictl folder create --cloud C --name N [--description D]",
                   .description = "Creates a folder in the cloud and prints it.",
                   .examples = {"dictl folder create --cloud b1gc0e8r2m1x7c5b4a9 --name prod"},
                   .make = [] { return std::make_unique<CreateFolder>(); }},
              Verb{.name = "list",
                   .summary = "list the folders of a cloud",
                   .usage = "dictl folder list --cloud C [--page-size N] [--page-token T]",
                   .description = "Lists the folders of a cloud. Without --page-size and --page-token all\n"
                                  "pages are fetched and printed together.",
                   .examples = {"dictl folder list --cloud b1gc0e8r2m1x7c5b4a9"},
                   .make = MakeListFolders},
              Verb{.name = "get",
                   .summary = "show a folder",
                   .usage = "dictl folder get FOLDER_ID",
                   .description = "Shows the folder: id, name, cloud, description, creation time.",
                   .examples = {"dictl folder get b1g2f0e8r2m1x7c5b4a9"},
                   .make = MakeGetFolder},
              Verb{.name = "get-quota",
                   .summary = "show a folder's limits and what it uses",
                   .usage = "dictl folder get-quota FOLDER_ID",
                   .description = "Shows the folder's quota: instances (not deleted) and GPUs (of instances that\n"
                                  "hold or are getting GPUs), each as used/max, or used/unlimited when there is no\n"
                                  "limit. Deploy and start are refused with RESOURCE_EXHAUSTED beyond a limit.",
                   .examples = {"dictl folder get-quota b1g2f0e8r2m1x7c5b4a9",
                                "dictl folder get-quota b1g2f0e8r2m1x7c5b4a9 --format json"},
                   .make = MakeGetFolderQuota},
              Verb{.name = "set-quota",
                   .summary = "set a folder's limits (installation admins)",
                   .usage = "dictl folder set-quota FOLDER_ID [--max-instances N|none] [--max-gpus N|none]",
                   .description =
                       "Replaces both limits of the folder: a flag that is not given, or given as none,\n"
                       "means no limit for it (so give both to keep both). Prints the quota (with\n"
                       "--format json: the operation, whose response is the quota).\n"
                       "Only installation admins may; a folder's own admins cannot change its limits.",
                   .examples = {"dictl folder set-quota b1g2f0e8r2m1x7c5b4a9 --max-instances 10 --max-gpus 16",
                                "dictl folder set-quota b1g2f0e8r2m1x7c5b4a9 --max-gpus 8   # instances: no limit",
                                "dictl folder set-quota b1g2f0e8r2m1x7c5b4a9                # remove both limits"},
                   .make = [] { return std::make_unique<SetFolderQuota>(); }},
          },
  };
}

}  // namespace dedicated::dictl
