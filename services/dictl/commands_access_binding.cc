// dictl access-binding list|add|remove|set: who holds which role on a cloud or folder.

#include "absl/strings/str_cat.h"
#include "dedicated/v1/access_binding_service.grpc.pb.h"
#include "services/common/ids.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"
#include "services/dictl/command_kit.h"
#include "services/dictl/output_resources.h"

namespace dedicated::dictl {
namespace {

// --folder F | --cloud C: bindings live on either, and the API takes the id alone as resource_id.
struct ResourceFlags {
  std::string folder;
  std::string cloud;

  void Register(FlagSet& flags) {
    flags.String("folder", "", &folder, "the folder whose bindings to use (this or --cloud)");
    flags.String("cloud", "", &cloud, "the cloud whose bindings to use (this or --folder)");
  }
  absl::Status Validate() const {
    if (folder.empty() == cloud.empty()) return absl::InvalidArgumentError("give exactly one of --folder, --cloud");
    return absl::OkStatus();
  }
  const std::string& resource_id() const { return folder.empty() ? cloud : folder; }
};

class ListBindings : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    resource_.Register(flags);
    paging_.Register(flags, "bindings");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    if (absl::Status s = resource_.Validate(); !s.ok()) return s;
    return paging_.Validate();
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::ListAccessBindingsResponse all;
    grpc::Status status = FetchList(
        client, paging_,
        [&](grpc::ClientContext* context, const std::string& token, v1::ListAccessBindingsResponse* page) {
          v1::ListAccessBindingsRequest request;
          request.set_resource_id(resource_.resource_id());
          request.set_page_size(paging_.page_size);
          request.set_page_token(token);
          return client.access_bindings().ListAccessBindings(context, request, page);
        },
        &all);
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    int code = ReportPrint(PrintAccessBindings(all, env.format, env.out), env);
    HintNextPage(all.next_page_token(), env);
    return code;
  }

 private:
  ResourceFlags resource_;
  PageFlags paging_;
};

// add and remove: one UpdateAccessBindings delta, so other bindings are untouched even if someone else
// changes them at the same time (unlike a read-modify-Set).
class ChangeBinding : public Command {
 public:
  explicit ChangeBinding(v1::AccessBindingAction action) : action_(action) {}

  void RegisterFlags(FlagSet& flags) override {
    resource_.Register(flags);
    flags.String("role", "", &role_, "role id, e.g. ai.languageModels.user (required)");
    flags.String("subject", "", &subject_text_,
                 "TYPE:ID: serviceAccount:ID, userAccount:ID or system:allAuthenticatedUsers (required)");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    if (absl::Status s = resource_.Validate(); !s.ok()) return s;
    if (absl::Status s = RequireFlags({{"role", role_}, {"subject", subject_text_}}); !s.ok()) return s;
    if (absl::Status s = ValidateRole(role_, "--role"); !s.ok()) return s;
    absl::StatusOr<v1::Subject> subject = ParseSubject(subject_text_, "--subject");
    if (!subject.ok()) return subject.status();
    subject_ = *std::move(subject);
    return absl::OkStatus();
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::UpdateAccessBindingsRequest request;
    request.set_resource_id(resource_.resource_id());
    v1::AccessBindingDelta* delta = request.add_access_binding_deltas();
    delta->set_action(action_);
    delta->mutable_access_binding()->set_role_id(role_);
    *delta->mutable_access_binding()->mutable_subject() = subject_;
    v1::Operation operation;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) {
          return client.access_bindings().UpdateAccessBindings(context, request, &operation);
        },
        CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return AwaitOperation(client, std::move(operation), env);
  }

 private:
  v1::AccessBindingAction action_;
  ResourceFlags resource_;
  std::string role_;
  std::string subject_text_;
  v1::Subject subject_;
};

class SetBindings : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    resource_.Register(flags);
    flags.Repeated("binding", &binding_texts_,
                   "ROLE=TYPE:ID, e.g. ai.languageModels.user=serviceAccount:ajeb1 (repeatable)");
    flags.Bool("clear", "", &clear_, "remove every binding (instead of giving --binding)");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    if (absl::Status s = resource_.Validate(); !s.ok()) return s;
    // Replacing everything with nothing locks people out; it takes a flag that says so.
    if (binding_texts_.empty() && !clear_) {
      return absl::InvalidArgumentError("give at least one --binding, or --clear to remove all bindings");
    }
    if (!binding_texts_.empty() && clear_) {
      return absl::InvalidArgumentError("--clear removes all bindings; it cannot be combined with --binding");
    }
    bindings_.clear();
    for (const std::string& text : binding_texts_) {
      absl::StatusOr<v1::AccessBinding> binding = ParseBinding(text);
      if (!binding.ok()) return binding.status();
      bindings_.push_back(*std::move(binding));
    }
    return absl::OkStatus();
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::SetAccessBindingsRequest request;
    request.set_resource_id(resource_.resource_id());
    for (const v1::AccessBinding& binding : bindings_) *request.add_access_bindings() = binding;
    v1::Operation operation;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) {
          return client.access_bindings().SetAccessBindings(context, request, &operation);
        },
        CallOptions{.idempotency_key = NewUuid()});
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return AwaitOperation(client, std::move(operation), env);
  }

 private:
  ResourceFlags resource_;
  std::vector<std::string> binding_texts_;
  bool clear_ = false;
  std::vector<v1::AccessBinding> bindings_;
};

constexpr char kSubjectSyntax[] =
    "A subject is TYPE:ID: serviceAccount:<id>, userAccount:<id> or system:allAuthenticatedUsers.";

}  // namespace

Group AccessBindingGroup() {
  return Group{
      .name = "access-binding",
      .summary = "grant and revoke roles on clouds and folders",
      .verbs =
          {
              Verb{.name = "list",
                   .summary = "list the role bindings of a folder or cloud",
                   .usage = "dictl access-binding list (--folder F | --cloud C) [--page-size N] [--page-token T]",
                   .description = "Lists who holds which role on the folder or cloud, one binding per line.",
                   .examples = {"dictl access-binding list --folder b1g2",
                                "dictl access-binding list --cloud b1gc --format json"},
                   .make = [] { return std::make_unique<ListBindings>(); }},
              Verb{.name = "add",
                   .summary = "grant a role to a subject",
                   .usage = "dictl access-binding add (--folder F | --cloud C) --role R --subject TYPE:ID",
                   .description =
                       absl::StrCat("Adds one binding; the other bindings stay as they are.\n", kSubjectSyntax),
                   .examples = {"dictl access-binding add --folder b1g2 --role ai.languageModels.user "
                                "--subject serviceAccount:ajeb1s0e8r2m1x7c5b4a"},
                   .make = [] { return std::make_unique<ChangeBinding>(v1::ADD); }},
              Verb{.name = "remove",
                   .summary = "revoke a role from a subject",
                   .usage = "dictl access-binding remove (--folder F | --cloud C) --role R --subject TYPE:ID",
                   .description =
                       absl::StrCat("Removes one binding; the other bindings stay as they are.\n", kSubjectSyntax),
                   .examples = {"dictl access-binding remove --folder b1g2 --role ai.languageModels.user "
                                "--subject serviceAccount:ajeb1s0e8r2m1x7c5b4a"},
                   .make = [] { return std::make_unique<ChangeBinding>(v1::REMOVE); }},
              Verb{.name = "set",
                   .summary = "replace all role bindings of a folder or cloud",
                   .usage = "dictl access-binding set (--folder F | --cloud C)\n"
                            "       (--binding ROLE=TYPE:ID [--binding ...] | --clear)",
                   .description =
                       absl::StrCat("Replaces every binding of the folder or cloud with the given ones. Bindings not\n"
                                    "listed are removed; --clear (instead of --binding) removes them all.\n",
                                    kSubjectSyntax),
                   .examples = {"dictl access-binding set --folder b1g2 --binding ai.models.editor=userAccount:aje9 "
                                "--binding ai.languageModels.user=system:allAuthenticatedUsers",
                                "dictl access-binding set --folder b1g2 --clear"},
                   .make = [] { return std::make_unique<SetBindings>(); }},
          },
  };
}

}  // namespace dedicated::dictl
