// dictl user-account create|list|get: the people API keys and access bindings are for. Installation
// admins create and list them; a user may get its own account and manages its own keys with
// `dictl api-key create --subject <its id>`.

#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "services/common/ids.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/command_kit.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

using ListUserAccounts = ListCommand<v1::ListUserAccountsResponse>;

class CreateUserAccount : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("name", "", request_.mutable_name(), "user account name, unique in the installation (required)");
    flags.String("description", "", request_.mutable_description(), "free-form description");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    return RequireFlags({{"name", request_.name()}});
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::UserAccount account;
    // Create answers with the account itself, not an Operation. The key lets the server recognise a
    // retry after UNAVAILABLE instead of creating a second account.
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.user_accounts().Create(context, request_, &account); },
        CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return ReportPrint(PrintUserAccount(account, env.format, env.out), env);
  }

 private:
  v1::CreateUserAccountRequest request_;
};

std::unique_ptr<Command> MakeGet() {
  return std::make_unique<GetCommand<v1::UserAccount>>(
      "USER_ACCOUNT_ID",
      [](Client& client, grpc::ClientContext* context, const std::string& id, v1::UserAccount* account) {
        v1::GetUserAccountRequest request;
        request.set_user_account_id(id);
        return client.user_accounts().Get(context, request, account);
      },
      &PrintUserAccount);
}

std::unique_ptr<Command> MakeList() {
  return std::make_unique<ListUserAccounts>(
      "", "", "user accounts",
      [](Client& client, grpc::ClientContext* context, const ListUserAccounts::Request& list,
         v1::ListUserAccountsResponse* page) {
        v1::ListUserAccountsRequest request;
        request.set_page_size(list.page_size);
        request.set_page_token(list.page_token);
        return client.user_accounts().List(context, request, page);
      },
      &PrintUserAccounts);
}

}  // namespace

Group UserAccountGroup() {
  return Group{
      .name = "user-account",
      .summary = "create and list user accounts, the identities of people",
      .verbs =
          {
              Verb{.name = "create",
                   .summary = "create a user account (installation admins)",
                   .usage = "dictl user-account create --name N [--description D]",
                   .description = "Creates a user account and prints it. Only installation admins may. Give it\n"
                                  "roles with 'dictl access-binding add --subject userAccount:<its id>'; the user\n"
                                  "then manages its own keys with 'dictl api-key create --subject <its id>'.",
                   .examples = {"dictl user-account create --name alice --description \"Alice, ML team\""},
                   .make = [] { return std::make_unique<CreateUserAccount>(); }},
              Verb{.name = "list",
                   .summary = "list the user accounts of the installation (installation admins)",
                   .usage = "dictl user-account list [--page-size N] [--page-token T]",
                   .description = "Lists every user account. Only installation admins may. Without --page-size\n"
                                  "and --page-token all pages are fetched and printed together.",
                   .examples = {"dictl user-account list", "dictl user-account list --format json"},
                   .make = MakeList},
              Verb{.name = "get",
                   .summary = "show a user account",
                   .usage = "dictl user-account get USER_ACCOUNT_ID",
                   .description = "Shows the user account: id, name, description, creation time. A user may get\n"
                                  "its own account, installation admins any; to others the server answers\n"
                                  "NOT_FOUND. A user creates and lists its own API keys with\n"
                                  "'dictl api-key create|list --subject <its id>'.",
                   .examples = {"dictl user-account get dua1s0e8r2m1x7c5b4a9"},
                   .make = MakeGet},
          },
  };
}

}  // namespace dedicated::dictl
