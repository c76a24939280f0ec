// dictl api-key create|list|delete. `create` is the only command that ever prints a secret, and only
// the once the server returns it; list never has one to print.

#include <optional>

#include "absl/time/clock.h"
#include "dedicated/v1/api_key_service.grpc.pb.h"
#include "services/common/ids.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/command_kit.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

using ListApiKeys = ListCommand<v1::ListApiKeysResponse>;

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const absl::Duration whole_seconds = absl::Floor(since_epoch, absl::Seconds(1));
  timestamp.set_seconds(absl::ToInt64Seconds(whole_seconds));
  timestamp.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(since_epoch - whole_seconds)));
  return timestamp;
}

class CreateApiKey : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("subject", "", &subject_, "id of the service or user account the key authenticates (required)");
    flags.String("description", "", &description_, "free-form description, e.g. where the key is used");
    flags.String("expires-in", "", &expires_in_, "lifetime, e.g. 24h, 90m, 30d (default: never expires)");
    flags.String("expires-at", "", &expires_at_, "expiry as RFC 3339, e.g. 2026-01-31T00:00:00Z");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    if (absl::Status s = RequireFlags({{"subject", subject_}}); !s.ok()) return s;
    if (!expires_in_.empty() && !expires_at_.empty()) {
      return absl::InvalidArgumentError("give at most one of --expires-in, --expires-at");
    }
    if (!expires_in_.empty()) {
      absl::StatusOr<absl::Duration> lifetime = ParseKeyLifetime(expires_in_);
      if (!lifetime.ok()) return lifetime.status();
      lifetime_ = *lifetime;
    }
    if (!expires_at_.empty()) {
      absl::StatusOr<absl::Time> at = ParseRfc3339(expires_at_, "--expires-at");
      if (!at.ok()) return at.status();
      at_ = *at;
    }
    return absl::OkStatus();
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::CreateApiKeyRequest request;
    request.set_subject_id(subject_);
    request.set_description(description_);
    // --expires-in counts from now, taken just before sending (not at parse time).
    if (lifetime_) *request.mutable_expires_at() = ToTimestamp(Now(env) + *lifetime_);
    if (at_) *request.mutable_expires_at() = ToTimestamp(*at_);
    v1::CreateApiKeyResponse response;
    grpc::Status status =
        client.Call([&](grpc::ClientContext* context) { return client.api_keys().Create(context, request, &response); },
                    CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    int code = ReportPrint(PrintCreatedApiKey(response, env.format, env.out), env);
    if (code == kExitOk && env.format == OutputFormat::kTable) {
      env.err << "hint: only its hash is stored; keep it in a file readable only by you (chmod 600) and pass "
                 "--key-file, or set DICTL_API_KEY.\n";
    }
    return code;
  }

 private:
  static absl::Time Now(const CommandEnv& env) { return env.wait.now ? env.wait.now() : absl::Now(); }

  std::string subject_;
  std::string description_;
  std::string expires_in_;
  std::string expires_at_;
  std::optional<absl::Duration> lifetime_;
  std::optional<absl::Time> at_;
};

class DeleteApiKey : public IdCommand {
 public:
  DeleteApiKey() : IdCommand("API_KEY_ID") {}
  void RegisterFlags(FlagSet&) override {}
  int Run(Client& client, const CommandEnv& env) override {
    v1::DeleteApiKeyRequest request;
    request.set_api_key_id(id_);
    v1::DeleteApiKeyResponse response;
    grpc::Status status =
        client.Call([&](grpc::ClientContext* context) { return client.api_keys().Delete(context, request, &response); },
                    CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    if (env.format == OutputFormat::kJson) return ReportPrint(PrintJson(response, env.out), env);
    env.out << "API key " << id_ << " deleted.\n";
    return kExitOk;
  }
};

std::unique_ptr<Command> MakeList() {
  return std::make_unique<ListApiKeys>(
      "subject", "id of the account whose keys to list (required)", "keys",
      [](Client& client, grpc::ClientContext* context, const ListApiKeys::Request& list,
         v1::ListApiKeysResponse* page) {
        v1::ListApiKeysRequest request;
        request.set_subject_id(list.parent);
        request.set_page_size(list.page_size);
        request.set_page_token(list.page_token);
        return client.api_keys().List(context, request, page);
      },
      &PrintApiKeys);
}

}  // namespace

Group ApiKeyGroup() {
  return Group{
      .name = "api-key",
      .summary = "create, list and delete the API keys of an account",
      .verbs =
          {
              Verb{.name = "create",
                   .summary = "create an API key and print its secret once",
                   .usage = "dictl api-key create --subject ID [--description D] [--expires-in DURATION |\n"
                            "       --expires-at RFC3339]",
                   .description = "Creates an API key for a service or user account. The secret is printed this once\n"
                                  "and cannot be shown again (only its hash is stored): store it at once. In JSON it\n"
                                  "is the \"secret\" field next to \"api_key\". Without --expires-in or --expires-at\n"
                                  "the key does not expire. A user makes its own keys with --subject set to its\n"
                                  "user account id (see 'dictl user-account get').",
                   .examples = {"dictl api-key create --subject ajeb1s0e8r2m1x7c5b4a --description ci --expires-in 30d",
                                "dictl api-key create --subject ajeb1s0e8r2m1x7c5b4a --format json | jq -r .secret "
                                "> ci.key"},
                   .make = [] { return std::make_unique<CreateApiKey>(); }},
              Verb{.name = "list",
                   .summary = "list the API keys of an account (never their secrets)",
                   .usage = "dictl api-key list --subject ID [--page-size N] [--page-token T]",
                   .description = "Lists the keys of an account: id, description, creation and expiry time.\n"
                                  "Secrets are not stored, so they are never listed.",
                   .examples = {"dictl api-key list --subject ajeb1s0e8r2m1x7c5b4a"},
                   .make = MakeList},
              Verb{.name = "delete",
                   .summary = "delete an API key",
                   .usage = "dictl api-key delete API_KEY_ID",
                   .description = "Deletes the key; calls made with it fail from the very next one.",
                   .examples = {"dictl api-key delete aje0k8r2m1x7c5b4a9d"},
                   .make = [] { return std::make_unique<DeleteApiKey>(); }},
          },
  };
}

}  // namespace dedicated::dictl
