// dictl cloud create|list|get and dictl folder create|list|get: the resource hierarchy that access
// bindings attach to.

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
  if (!status.ok()) return ReportRpcError(status, client.options(), env.err);
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
      .summary = "create and list folders, which hold instances and service accounts",
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
          },
  };
}

}  // namespace dedicated::dictl
