#pragma once
// Building blocks the verb files share: a verb that takes one id, paging of List calls, and generic
// get and list verbs (one RPC, one printer) for the resource families whose verbs differ only in those.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "services/dictl/args.h"
#include "services/dictl/command.h"

namespace dedicated::dictl {

// Verbs that act on one object take its id as their only positional argument.
class IdCommand : public Command {
 public:
  // `arg_name` is how usage errors call it, e.g. "CLOUD_ID".
  explicit IdCommand(std::string arg_name) : arg_name_(std::move(arg_name)) {}
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {arg_name_}); !s.ok()) return s;
    id_ = positional[0];
    return ValidateFlags();
  }

 protected:
  virtual absl::Status ValidateFlags() { return absl::OkStatus(); }
  std::string id_;

 private:
  std::string arg_name_;
};

// --page-size must not be negative (0: the server's default).
absl::Status ValidatePageSize(int64_t page_size);

// --page-size and --page-token of a list verb.
struct PageFlags {
  int64_t page_size = 0;
  std::string page_token;

  // `items` names what is listed, for the help text ("instances").
  void Register(FlagSet& flags, const std::string& items);
  absl::Status Validate() const { return ValidatePageSize(page_size); }
  // Without either flag every page is fetched and printed as one list.
  bool AllPages() const { return page_size == 0 && page_token.empty(); }
};

// Fetches pages until next_page_token is empty, or one page when `all_pages` is false. `fetch` gets the
// token and returns the page's next_page_token through its last argument. Each page is one Client::Call,
// so UNAVAILABLE is retried per page.
grpc::Status FetchPages(
    Client& client, const std::string& first_token, bool all_pages,
    const std::function<grpc::Status(grpc::ClientContext*, const std::string& token, std::string* next_token)>& fetch);

// FetchPages for a List response type: the pages are merged into `all` (repeated fields appended), whose
// next_page_token is that of the last page fetched. `fetch(context, token, page)` sends one request.
template <typename Response, typename Fetch>
grpc::Status FetchList(Client& client, const PageFlags& paging, Fetch fetch, Response* all) {
  return FetchPages(client, paging.page_token, paging.AllPages(),
                    [&](grpc::ClientContext* context, const std::string& token, std::string* next) {
                      Response page;
                      grpc::Status status = fetch(context, token, &page);
                      if (status.ok()) {
                        *next = page.next_page_token();
                        all->MergeFrom(page);
                        // MergeFrom keeps the previous token when this page's is empty (proto3 default).
                        all->set_next_page_token(page.next_page_token());
                      }
                      return status;
                    });
}

// On stderr, in table mode only: which --page-token continues the listing.
void HintNextPage(const std::string& next_page_token, const CommandEnv& env);

// `dictl <group> get ID`: one Get call, the object printed.
template <typename Response>
class GetCommand : public IdCommand {
 public:
  using Rpc = std::function<grpc::Status(Client&, grpc::ClientContext*, const std::string& id, Response*)>;
  GetCommand(std::string arg_name, Rpc rpc, Printer<Response> print)
      : IdCommand(std::move(arg_name)), rpc_(std::move(rpc)), print_(print) {}

  void RegisterFlags(FlagSet&) override {}
  int Run(Client& client, const CommandEnv& env) override {
    Response response;
    grpc::Status status =
        client.Call([&](grpc::ClientContext* context) { return rpc_(client, context, id_, &response); });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    return ReportPrint(print_(response, env.format, env.out), env);
  }

 private:
  Rpc rpc_;
  Printer<Response> print_;
};

// `dictl <group> list [--<parent> P]`: every page merged (or the one page asked for), then printed.
template <typename Response>
class ListCommand : public Command {
 public:
  struct Request {
    // Value of the parent flag; "" for top-level lists.
    const std::string& parent;
    int64_t page_size;
    const std::string& page_token;
  };
  using Rpc = std::function<grpc::Status(Client&, grpc::ClientContext*, const Request&, Response*)>;
  // `parent_flag` (e.g. "folder") is required; empty for lists without a parent. `items` is for help.
  ListCommand(std::string parent_flag, std::string parent_help, std::string items, Rpc rpc, Printer<Response> print)
      : parent_flag_(std::move(parent_flag)),
        parent_help_(std::move(parent_help)),
        items_(std::move(items)),
        rpc_(std::move(rpc)),
        print_(print) {}

  void RegisterFlags(FlagSet& flags) override {
    if (!parent_flag_.empty()) flags.String(parent_flag_, "", &parent_, parent_help_);
    paging_.Register(flags, items_);
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    if (!parent_flag_.empty()) {
      if (absl::Status s = RequireFlags({{parent_flag_, parent_}}); !s.ok()) return s;
    }
    return paging_.Validate();
  }
  int Run(Client& client, const CommandEnv& env) override {
    Response all;
    grpc::Status status = FetchList(
        client, paging_,
        [&](grpc::ClientContext* context, const std::string& token, Response* page) {
          return rpc_(client, context, Request{parent_, paging_.page_size, token}, page);
        },
        &all);
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    int code = ReportPrint(print_(all, env.format, env.out), env);
    HintNextPage(all.next_page_token(), env);
    return code;
  }

 private:
  std::string parent_flag_;
  std::string parent_help_;
  std::string items_;
  Rpc rpc_;
  Printer<Response> print_;
  std::string parent_;
  PageFlags paging_;
};

}  // namespace dedicated::dictl
