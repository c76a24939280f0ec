// dictl model list|get: the catalog of deployable models.

#include <set>

#include "absl/strings/str_cat.h"
#include "dedicated/v1/model_service.grpc.pb.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"

namespace dedicated::dictl {
namespace {

class ListModels : public Command {
 public:
  void RegisterFlags(FlagSet&) override {}
  absl::Status Validate(const std::vector<std::string>& positional) override {
    return ExpectPositional(positional, {});
  }
  int Run(Client& client, const CommandEnv& env) override {
    // The catalog is small; all pages are printed as one list.
    v1::ListModelsResponse all;
    std::string token;
    std::set<std::string> seen;
    while (true) {
      v1::ListModelsRequest request;
      request.set_page_token(token);
      v1::ListModelsResponse page;
      grpc::Status status = client.Call(
          [&](grpc::ClientContext* context) { return client.models().List(context, request, &page); });
      if (!status.ok()) return ReportRpcError(status, client, env.err);
      for (auto& model : *page.mutable_models()) *all.add_models() = std::move(model);
      token = page.next_page_token();
      if (token.empty()) break;
      if (!seen.insert(token).second) {
        return ReportRpcError(
            grpc::Status(grpc::StatusCode::INTERNAL,
                         absl::StrCat("the server returned page token \"", token, "\" twice")),
            client, env.err);
      }
    }
    return ReportPrint(PrintModels(all, env.format, env.out), env);
  }
};

class GetModel : public Command {
 public:
  void RegisterFlags(FlagSet&) override {}
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {"MODEL_ID"}); !s.ok()) return s;
    id_ = positional[0];
    return absl::OkStatus();
  }
  int Run(Client& client, const CommandEnv& env) override {
    v1::GetModelRequest request;
    request.set_model_id(id_);
    v1::Model model;
    grpc::Status status = client.Call(
        [&](grpc::ClientContext* context) { return client.models().Get(context, request, &model); });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return ReportPrint(PrintModel(model, env.format, env.out), env);
  }

 private:
  std::string id_;
};

}  // namespace

Group ModelGroup() {
  return Group{
      .name = "model",
      .summary = "browse the catalog of deployable models",
      .verbs =
          {
              Verb{.name = "list",
                   .summary = "list catalog models",
                   .usage = "dictl model list",
                   .description = "Lists the models that can be deployed, their context length, license,\n"
                                  "configurations and, if set, the date they stop being deployable.",
                   .examples = {"dictl model list", "dictl model list --format json"},
                   .make = [] { return std::make_unique<ListModels>(); }},
              Verb{.name = "get",
                   .summary = "show a model with its configurations, prices and guarantees",
                   .usage = "dictl model get MODEL_ID",
                   .description =
                       "Shows the model and, per configuration (S, M, L), the GPUs of a replica, its\n"
                       "concurrency limit, its price per hour and its published guarantees.",
                   .examples = {"dictl model get gemma-3-4b-it"},
                   .make = [] { return std::make_unique<GetModel>(); }},
          },
  };
}

}  // namespace dedicated::dictl
