// dictl usage: billable uptime and cost of a folder's instances in a time window (BillingService).

#include <cstdint>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "dedicated/v1/billing_service.grpc.pb.h"
#include "services/dictl/args.h"
#include "services/dictl/command.h"

namespace dedicated::dictl {
namespace {

// RFC 3339 ("2026-01-15T12:00:00Z") or a date ("2026-01-15", midnight UTC).
absl::Status ParseWhen(const std::string& flag, const std::string& text, google::protobuf::Timestamp* out) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err) && !absl::ParseTime("%Y-%m-%d", text, &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": expected RFC 3339 (2026-01-15T12:00:00Z) or a date (2026-01-15), got \"", text, "\""));
  }
  out->set_seconds(absl::ToUnixSeconds(t));
  return absl::OkStatus();
}

int64_t MinorUnits(const v1::Money& m) { return m.units() * 100 + m.nanos() / 10000000; }

// "603.00" (always two decimals: the money is rounded to the kopeck).
std::string Amount(const v1::Money& m) {
  int64_t minor = MinorUnits(m);
  return absl::StrFormat("%s%d.%02d", minor < 0 ? "-" : "", (minor < 0 ? -minor : minor) / 100,
                         (minor < 0 ? -minor : minor) % 100);
}

std::string Hours(int64_t seconds) { return absl::StrFormat("%.2f", static_cast<double>(seconds) / 3600.0); }

std::string Csv(const std::string& cell) {
  if (cell.find_first_of(",\"\n") == std::string::npos) return cell;
  std::string out = "\"";
  for (char c : cell) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

class GetUsage : public Command {
 public:
  void RegisterFlags(FlagSet& flags) override {
    flags.String("folder", "", &folder_, "folder whose usage to report (required)");
    flags.String("from", "", &from_, "window start, RFC 3339 or YYYY-MM-DD (UTC), inclusive (required)");
    flags.String("to", "", &to_, "window end, RFC 3339 or YYYY-MM-DD (UTC), exclusive (required)");
    flags.Bool("hourly", "", &hourly_, "one row per hour, instance and SKU (ListUsageRecords) instead of totals");
  }
  absl::Status Validate(const std::vector<std::string>& positional) override {
    if (absl::Status s = ExpectPositional(positional, {}); !s.ok()) return s;
    if (folder_.empty()) return absl::InvalidArgumentError("--folder: is required");
    if (from_.empty()) return absl::InvalidArgumentError("--from: is required");
    if (to_.empty()) return absl::InvalidArgumentError("--to: is required");
    if (absl::Status s = ParseWhen("from", from_, &start_); !s.ok()) return s;
    if (absl::Status s = ParseWhen("to", to_, &end_); !s.ok()) return s;
    if (end_.seconds() <= start_.seconds()) return absl::InvalidArgumentError("--to: must be after --from");
    return absl::OkStatus();
  }
  int Run(Client& client, const CommandEnv& env) override {
    return hourly_ ? RunHourly(client, env) : RunTotals(client, env);
  }

 private:
  int RunTotals(Client& client, const CommandEnv& env) {
    v1::GetUsageRequest request;
    request.set_folder_id(folder_);
    *request.mutable_start_time() = start_;
    *request.mutable_end_time() = end_;
    v1::GetUsageResponse usage;
    grpc::Status status =
        client.Call([&](grpc::ClientContext* context) { return client.billing().GetUsage(context, request, &usage); });
    if (!status.ok()) return ReportRpcError(status, client, env.err);
    if (env.format == OutputFormat::kJson) return ReportPrint(PrintJson(usage, env.out), env);
    const std::string currency = usage.total_cost().currency_code();
    if (env.format == OutputFormat::kCsv) {
      env.out << "instance_id,sku_id,model_id,configuration,billable_seconds,cost,currency\n";
      for (const auto& i : usage.items()) {
        env.out << Csv(i.instance_id()) << "," << Csv(i.sku_id()) << "," << Csv(i.model_id()) << ","
                << Csv(i.configuration()) << "," << i.billable_seconds() << "," << Amount(i.cost()) << ","
                << i.cost().currency_code() << "\n";
      }
      env.out << "TOTAL,,,," << usage.total_billable_seconds() << "," << Amount(usage.total_cost()) << "," << currency
              << "\n";
      return kExitOk;
    }
    Table table({"INSTANCE", "MODEL", "CONFIG", "SKU", "SECONDS", "HOURS", "COST"});
    for (const auto& i : usage.items()) {
      table.AddRow({i.instance_id(), i.model_id(), i.configuration(), i.sku_id(), absl::StrCat(i.billable_seconds()),
                    Hours(i.billable_seconds()), absl::StrCat(Amount(i.cost()), " ", i.cost().currency_code())});
    }
    table.AddRow({"TOTAL", "", "", "", absl::StrCat(usage.total_billable_seconds()),
                  Hours(usage.total_billable_seconds()), absl::StrCat(Amount(usage.total_cost()), " ", currency)});
    table.Print(env.out);
    return kExitOk;
  }

  int RunHourly(Client& client, const CommandEnv& env) {
    v1::ListUsageRecordsResponse all;
    v1::ListUsageRecordsRequest request;
    request.set_folder_id(folder_);
    *request.mutable_start_time() = start_;
    *request.mutable_end_time() = end_;
    request.set_page_size(1000);
    std::set<std::string> seen;
    while (true) {
      v1::ListUsageRecordsResponse page;
      grpc::Status status = client.Call(
          [&](grpc::ClientContext* context) { return client.billing().ListUsageRecords(context, request, &page); });
      if (!status.ok()) return ReportRpcError(status, client, env.err);
      for (auto& r : *page.mutable_usage_records()) *all.add_usage_records() = std::move(r);
      if (page.next_page_token().empty()) break;
      if (!seen.insert(page.next_page_token()).second) {
        return ReportRpcError(grpc::Status(grpc::StatusCode::INTERNAL, "the server repeated a page token"),
                              client, env.err);
      }
      request.set_page_token(page.next_page_token());
    }
    if (env.format == OutputFormat::kJson) return ReportPrint(PrintJson(all, env.out), env);
    int64_t seconds = 0, minor = 0;
    std::string currency;
    for (const auto& r : all.usage_records()) {
      seconds += r.billable_seconds();
      minor += MinorUnits(r.cost());
      currency = r.cost().currency_code();
    }
    v1::Money total;
    total.set_units(minor / 100);
    total.set_nanos(static_cast<int32_t>(minor % 100) * 10000000);
    if (env.format == OutputFormat::kCsv) {
      env.out << "hour_start,instance_id,sku_id,billable_seconds,cost,currency\n";
      for (const auto& r : all.usage_records()) {
        env.out << FormatTimestamp(r.hour_start()) << "," << Csv(r.instance_id()) << "," << Csv(r.sku_id()) << ","
                << r.billable_seconds() << "," << Amount(r.cost()) << "," << r.cost().currency_code() << "\n";
      }
      env.out << "TOTAL,,," << seconds << "," << Amount(total) << "," << currency << "\n";
      return kExitOk;
    }
    Table table({"HOUR", "INSTANCE", "SKU", "SECONDS", "COST"});
    for (const auto& r : all.usage_records()) {
      table.AddRow({FormatTimestamp(r.hour_start()), r.instance_id(), r.sku_id(), absl::StrCat(r.billable_seconds()),
                    absl::StrCat(Amount(r.cost()), " ", r.cost().currency_code())});
    }
    table.AddRow({"TOTAL", "", "", absl::StrCat(seconds), absl::StrCat(Amount(total), " ", currency)});
    table.Print(env.out);
    return kExitOk;
  }

  std::string folder_, from_, to_;
  bool hourly_ = false;
  google::protobuf::Timestamp start_, end_;
};

}  // namespace

Group UsageGroup() {
  return Group{
      .name = "usage",
      .summary = "billable uptime and cost of a folder's instances",
      .verbs = {Verb{
          .name = "get",
          .summary = "usage per instance and SKU in a time window, with totals",
          .usage = "dictl usage --folder FOLDER_ID --from T1 --to T2 [--hourly]",
          .description =
              "Reports billable replica-seconds and cost per instance and SKU (model x configuration) in\n"
              "[--from, --to): time while the instance was ACTIVE and the replica served. Provisioning,\n"
              "stopped and failed time is free. Cost per line = seconds x hourly price / 3600, rounded half\n"
              "up to the kopeck; a price change inside the window is applied from its effective time.\n"
              "--hourly lists one row per UTC hour instead. --format table (default), json or csv.\n"
              "Needs a viewer role (ai.models.viewer or viewer) on the folder or its cloud.",
          .examples = {"dictl usage --folder b1g-prod --from 2026-01-01 --to 2026-02-01",
                       "dictl usage --folder b1g-prod --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z "
                       "--hourly --format csv"},
          .make = [] { return std::make_unique<GetUsage>(); }}},
      .single_verb = true,
  };
}

}  // namespace dedicated::dictl
