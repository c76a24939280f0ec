#include "services/controlplane/billing_api.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/status_macros.h"
#include "services/controlplane/billing_store.h"
#include "services/controlplane/list_query.h"
#include "services/controlplane/row_codec.h"
#include "services/controlplane/validation.h"

namespace dedicated::controlplane {
namespace {

using google::protobuf::util::TimeUtil;

struct Window {
  int64_t start = 0;
  int64_t end = 0;
};

absl::StatusOr<Window> ValidateWindow(const std::string& folder_id, const google::protobuf::Timestamp* start,
                                      const google::protobuf::Timestamp* end, bool has_start, bool has_end) {
  DI_RETURN_IF_ERROR(ValidateId("folder_id", folder_id));
  if (!has_start) return absl::InvalidArgumentError("start_time: is required");
  if (!has_end) return absl::InvalidArgumentError("end_time: is required");
  auto valid = [](const google::protobuf::Timestamp& t) {
    return t.seconds() >= TimeUtil::kTimestampMinSeconds && t.seconds() <= TimeUtil::kTimestampMaxSeconds &&
           t.nanos() >= 0 && t.nanos() < 1000000000;
  };
  if (!valid(*start)) return absl::InvalidArgumentError("start_time: out of range");
  if (!valid(*end)) return absl::InvalidArgumentError("end_time: out of range");
  Window w{start->seconds(), end->seconds()};
  if (w.end <= w.start) return absl::InvalidArgumentError("end_time: must be after start_time");
  return w;
}

// All lines of one answer are in one currency (the catalog's); a mix would need an exchange rule.
absl::Status CheckCurrency(std::string* currency, const std::string& line_currency) {
  if (currency->empty()) *currency = line_currency;
  if (*currency != line_currency) {
    return absl::FailedPreconditionError("usage spans several currencies; cannot total it");
  }
  return absl::OkStatus();
}

std::string DefaultCurrency(const catalog::Catalog& catalog) {
  for (const auto& m : catalog.models()) {
    for (const auto& c : m.configurations()) return c.price_per_hour().currency_code();
  }
  return "";
}

}  // namespace

dedicated::v1::Money MoneyFromMinorUnits(const std::string& currency_code, int64_t minor_units) {
  dedicated::v1::Money m;
  m.set_currency_code(currency_code);
  m.set_units(minor_units / 100);
  m.set_nanos(static_cast<int32_t>(minor_units % 100) * 10000000);
  return m;
}

absl::StatusOr<v1::GetUsageResponse> BillingApi::GetUsage(DbSession& db, const RequestContext&,
                                                          const v1::GetUsageRequest& req) {
  DI_ASSIGN_OR_RETURN(Window w, ValidateWindow(req.folder_id(), &req.start_time(), &req.end_time(),
                                               req.has_start_time(), req.has_end_time()));
  std::vector<UsageLine> lines;
  DI_RETURN_IF_ERROR(db.ReadOneStatement("get usage", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
    lines = QueryUsage(tx, s, req.folder_id(), w.start, w.end);
    return absl::OkStatus();
  }));
  v1::GetUsageResponse out;
  std::string currency;
  int64_t total_seconds = 0;
  int64_t total_minor = 0;
  for (const UsageLine& line : lines) {
    DI_RETURN_IF_ERROR(CheckCurrency(&currency, line.currency_code));
    const int64_t minor = CostMinorUnits(line.cost_numerator);
    v1::UsageItem* item = out.add_items();
    item->set_instance_id(line.instance_id);
    item->set_sku_id(line.sku_id);
    item->set_model_id(line.model_id);
    item->set_configuration(line.configuration);
    item->set_billable_seconds(line.seconds);
    *item->mutable_cost() = MoneyFromMinorUnits(line.currency_code, minor);
    total_seconds += line.seconds;
    total_minor += minor;  // the total is the sum of the rounded lines, so an invoice adds up
  }
  out.set_total_billable_seconds(total_seconds);
  *out.mutable_total_cost() =
      MoneyFromMinorUnits(currency.empty() ? DefaultCurrency(*catalog_) : currency, total_minor);
  return out;
}

absl::StatusOr<v1::ListUsageRecordsResponse> BillingApi::ListUsageRecords(DbSession& db, const RequestContext&,
                                                                          const v1::ListUsageRecordsRequest& req) {
  DI_ASSIGN_OR_RETURN(Window w, ValidateWindow(req.folder_id(), &req.start_time(), &req.end_time(),
                                               req.has_start_time(), req.has_end_time()));
  int64_t page_size = 0;
  DI_RETURN_IF_ERROR(ValidatePageSize("page_size", req.page_size(), &page_size));
  const std::string fingerprint = absl::StrCat("usage|", req.folder_id(), "|", w.start, "|", w.end);
  DI_ASSIGN_OR_RETURN(std::optional<PageCursor> cursor, DecodePageToken("page_token", req.page_token(), fingerprint));
  std::optional<UsageRecordCursor> after;
  if (cursor.has_value()) {
    std::vector<std::string> parts = absl::StrSplit(cursor->id, absl::MaxSplits('/', 1));
    UsageRecordCursor c;
    if (parts.size() != 2 || !absl::SimpleAtoi(cursor->sort_key, &c.hour_start_unix)) {
      return absl::InvalidArgumentError("page_token: malformed; pass next_page_token of the previous page");
    }
    c.instance_id = parts[0];
    c.sku_id = parts[1];
    after = c;
  }
  std::vector<UsageRecordRow> rows;
  DI_RETURN_IF_ERROR(
      db.ReadOneStatement("list usage records", [&](pqxx::nontransaction& tx, DbSession& s) -> absl::Status {
        // One extra row tells whether another page exists.
        rows = QueryUsageRecords(tx, s, req.folder_id(), w.start, w.end, after, page_size + 1);
        return absl::OkStatus();
      }));
  v1::ListUsageRecordsResponse out;
  for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < page_size; ++i) {
    const UsageRecordRow& row = rows[i];
    v1::UsageRecord* rec = out.add_usage_records();
    rec->set_instance_id(row.line.instance_id);
    rec->set_sku_id(row.line.sku_id);
    rec->mutable_hour_start()->set_seconds(row.hour_start_unix);
    rec->set_billable_seconds(row.line.seconds);
    *rec->mutable_cost() = MoneyFromMinorUnits(row.line.currency_code, CostMinorUnits(row.line.cost_numerator));
  }
  if (static_cast<int64_t>(rows.size()) > page_size) {
    const UsageRecordRow& last = rows[static_cast<size_t>(page_size) - 1];
    out.set_next_page_token(EncodePageToken(
        PageCursor{absl::StrCat(last.hour_start_unix), absl::StrCat(last.line.instance_id, "/", last.line.sku_id)},
        fingerprint));
  }
  return out;
}

}  // namespace dedicated::controlplane
