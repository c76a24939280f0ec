#include "services/dictl/command_kit.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace dedicated::dictl {

void PageFlags::Register(FlagSet& flags, const std::string& items) {
  flags.Int("page-size", "", &page_size, absl::StrCat("return one page of at most this many ", items));
  flags.String("page-token", "", &page_token, "return the page that starts at this token");
}

absl::Status ValidatePageSize(int64_t page_size) {
  if (page_size < 0) return absl::InvalidArgumentError("--page-size: must not be negative");
  return absl::OkStatus();
}

grpc::Status FetchPages(
    Client& client, const std::string& first_token, bool all_pages,
    const std::function<grpc::Status(grpc::ClientContext*, const std::string& token, std::string* next_token)>& fetch) {
  std::string token = first_token;
  std::set<std::string> seen;
  while (true) {
    std::string next;
    grpc::Status status = client.Call([&](grpc::ClientContext* context) { return fetch(context, token, &next); });
    if (!status.ok() || !all_pages || next.empty()) return status;
    // A server that hands out the same token twice would otherwise keep dictl looping forever.
    if (!seen.insert(next).second) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrCat("the server returned page token \"", next, "\" twice"));
    }
    token = next;
  }
}

void HintNextPage(const std::string& next_page_token, const CommandEnv& env) {
  if (env.format == OutputFormat::kTable && !next_page_token.empty()) {
    env.err << "More results: add --page-token " << next_page_token << "\n";
  }
}

}  // namespace dedicated::dictl
