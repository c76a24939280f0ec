// dictl service-account create|list|get: the non-human subjects API keys and access bindings are for.

#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "services/common/ids.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/command_kit.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

using ListServiceAccounts = ListCommand<v1::ListServiceAccountsResponse>;

class CreateServiceAccount : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("folder", "", request_.mutable_folder_id(), "folder to create the service account in (required)");
    flags.String("name", "", request_.mutable_name(), "service account name, unique in the folder (required)");
    flags.String("description", "", request_.mutable_description(), "free-form description");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    return RequireFlags({{"folder", request_.folder_id()}, {"name", request_.name()}});
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::ServiceAccount account;
    // Create answers with the account itself, not an Operation. The key lets the server recognise a
    // retry after UNAVAILABLE instead of creating a second account.
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.service_accounts().Create(context, request_, &account); },
        CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return ReportPrint(PrintServiceAccount(account, env.format, env.out), env);
  }

 private:
  v1::CreateServiceAccountRequest request_;
};

std::unique_ptr<Command> MakeGet() {
  return std::make_unique<GetCommand<v1::ServiceAccount>>(
      "SERVICE_ACCOUNT_ID",
      [](Client& client, grpc::ClientContext* context, const std::string& id, v1::ServiceAccount* account) {
        v1::GetServiceAccountRequest request;
        request.set_service_account_id(id);
        return client.service_accounts().Get(context, request, account);
      },
      &PrintServiceAccount);
}

std::unique_ptr<Command> MakeList() {
  return std::make_unique<ListServiceAccounts>(
      "folder", "folder whose service accounts to list (required)", "service accounts",
      [](Client& client, grpc::ClientContext* context, const ListServiceAccounts::Request& list,
         v1::ListServiceAccountsResponse* page) {
        v1::ListServiceAccountsRequest request;
        request.set_folder_id(list.parent);
        request.set_page_size(list.page_size);
        request.set_page_token(list.page_token);
        return client.service_accounts().List(context, request, page);
      },
      &PrintServiceAccounts);
}

}  // namespace

Group ServiceAccountGroup() {
  return Group{
      .name = "service-account",
      .summary = "create and list service accounts, the identities of programs",
      .verbs =
          {
              Verb{.name = "create",
                   .summary = "create a service account in a folder",
                   .usage = "dictl service-account create --folder F --name N [--description D]",
                   .description = "Creates a service account and prints it. Give it roles with 'dictl access-binding\n"
                                  "add' and a key with 'dictl api-key create --subject <its id>'.",
                   .examples = {"dictl service-account create --folder b1g2 --name ci-deployer"},
                   .make = [] { return std::make_unique<CreateServiceAccount>(); }},
              Verb{.name = "list",
                   .summary = "list the service accounts of a folder",
                   .usage = "dictl service-account list --folder F [--page-size N] [--page-token T]",
                   .description = "Lists the service accounts of a folder. Without --page-size and --page-token\n"
                                  "all pages are fetched and printed together.",
                   .examples = {"dictl service-account list --folder b1g2"},
                   .make = MakeList},
              Verb{.name = "get",
                   .summary = "show a service account",
                   .usage = "dictl service-account get SERVICE_ACCOUNT_ID",
                   .description = "Shows the service account: id, name, folder, description, creation time.",
                   .examples = {"dictl service-account get ajeb1s0e8r2m1x7c5b4a"},
                   .make = MakeGet},
          },
  };
}

}  // namespace dedicated::dictl
