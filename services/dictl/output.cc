#include "services/dictl/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "services/dictl/rpc.h"

namespace dedicated::dictl {
namespace {

std::string OrDash(std::string text) { return text.empty() ? "-" : text; }

template <typename Metadata>
bool TryInstanceId(const google::protobuf::Any& any, std::string* id) {
  if (!any.Is<Metadata>()) return false;
  Metadata metadata;
  if (!any.UnpackTo(&metadata)) return false;
  *id = metadata.instance_id();
  return true;
}

// The verb each metadata type stands for, in the words of the progress line.
std::string VerbOf(const google::protobuf::Any& any) {
  if (any.Is<v1::CreateInstanceMetadata>()) return "create";
  if (any.Is<v1::UpdateInstanceMetadata>()) return "update";
  if (any.Is<v1::DeleteInstanceMetadata>()) return "delete";
  if (any.Is<v1::StartInstanceMetadata>()) return "start";
  if (any.Is<v1::StopInstanceMetadata>()) return "stop";
  return "";
}

void AddOperationRow(const v1::Operation& operation, Table& table) {
  table.AddRow({operation.id(), operation.description(), InstanceIdOf(operation),
                FormatTimestamp(operation.created_at()), operation.done() ? "true" : "false",
                OperationResult(operation)});
}

std::vector<std::string> OperationHeader() {
  return {"ID", "DESCRIPTION", "INSTANCE ID", "CREATED", "DONE", "RESULT"};
}

std::string Configurations(const v1::Model& model) {
  std::vector<std::string> names;
  for (const v1::Configuration& configuration : model.configurations()) names.push_back(configuration.name());
  return absl::StrJoin(names, ",");
}

}  // namespace

size_t DisplayWidth(absl::string_view text) {
  // Counts UTF-8 lead bytes: one per character.
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "table") return OutputFormat::kTable;
  if (lower == "json") return OutputFormat::kJson;
  if (lower == "csv") return OutputFormat::kCsv;
  return absl::InvalidArgumentError(absl::StrCat("--format: must be table, json or csv, got \"", text, "\""));
}

Table::Table(std::vector<std::string> header) : has_header_(!header.empty()) {
  if (has_header_) rows_.push_back(std::move(header));
}

void Table::AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    // Empty trailing cells would otherwise leave padding at the end of the line.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print ", message.GetTypeName(), " as JSON: ", status.message().as_string()));
  }
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

absl::Status PrintJson(const google::protobuf::Message& message, std::ostream& out) {
  absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) return json.status();
  out << *json;
  return absl::OkStatus();
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "";
  absl::Time time = absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string FormatMoney(const v1::Money& money) {
  std::string amount;
  if (money.nanos() == 0) {
    amount = absl::StrCat(money.units());
  } else {
    bool negative = money.units() < 0 || money.nanos() < 0;
    int64_t units = money.units() < 0 ? -money.units() : money.units();
    int32_t nanos = money.nanos() < 0 ? -money.nanos() : money.nanos();
    std::string fraction = absl::StrFormat("%09d", nanos);
    while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
    amount = absl::StrCat(negative ? "-" : "", units, ".", fraction);
  }
  return money.currency_code().empty() ? amount : absl::StrCat(amount, " ", money.currency_code());
}

std::string FormatLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  std::vector<std::pair<std::string, std::string>> sorted(labels.begin(), labels.end());
  std::sort(sorted.begin(), sorted.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

std::string InstanceStatusName(v1::Instance::Status status) {
  const std::string& name = v1::Instance::Status_Name(status);
  return name.empty() ? absl::StrCat("STATUS_", static_cast<int>(status)) : name;
}

std::string InstanceIdOf(const v1::Operation& operation) {
  const google::protobuf::Any& metadata = operation.metadata();
  std::string id;
  if (TryInstanceId<v1::CreateInstanceMetadata>(metadata, &id) ||
      TryInstanceId<v1::UpdateInstanceMetadata>(metadata, &id) ||
      TryInstanceId<v1::DeleteInstanceMetadata>(metadata, &id) ||
      TryInstanceId<v1::StartInstanceMetadata>(metadata, &id) ||
      TryInstanceId<v1::StopInstanceMetadata>(metadata, &id)) {
    return id;
  }
  return "";
}

std::string DescribeOperation(const v1::Operation& operation) {
  std::string verb = VerbOf(operation.metadata());
  std::string instance_id = InstanceIdOf(operation);
  if (!verb.empty() && !instance_id.empty()) return absl::StrCat(verb, " instance ", instance_id);
  return operation.description();
}

std::string OperationResult(const v1::Operation& operation) {
  if (operation.has_error()) {
    return absl::StrCat(StatusCodeName(operation.error().code()), ": ", operation.error().message());
  }
  return operation.done() ? "ok" : "";
}

absl::Status PrintInstance(const v1::Instance& instance, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(instance, out);
  Table table;
  table.AddRow({"ID", instance.id()});
  table.AddRow({"NAME", instance.name()});
  table.AddRow({"FOLDER", instance.folder_id()});
  table.AddRow({"MODEL", instance.model_id()});
  table.AddRow({"CONFIG", instance.configuration()});
  table.AddRow({"REPLICAS", absl::StrCat(instance.replica_count())});
  table.AddRow({"STATUS", InstanceStatusName(instance.status())});
  if (!instance.status_message().empty()) table.AddRow({"STATUS MESSAGE", instance.status_message()});
  table.AddRow({"MODEL URI", instance.model_uri()});
  table.AddRow({"DESCRIPTION", instance.description()});
  table.AddRow({"LABELS", FormatLabels(instance.labels())});
  table.AddRow({"CREATED", FormatTimestamp(instance.created_at())});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintInstances(const v1::ListInstancesResponse& response, OutputFormat format,
                            std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ID", "NAME", "MODEL", "CONFIG", "REPLICAS", "STATUS", "CREATED"});
  for (const v1::Instance& instance : response.instances()) {
    table.AddRow({instance.id(), instance.name(), instance.model_id(), instance.configuration(),
                  absl::StrCat(instance.replica_count()), InstanceStatusName(instance.status()),
                  FormatTimestamp(instance.created_at())});
  }
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintOperation(const v1::Operation& operation, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(operation, out);
  Table table(OperationHeader());
  AddOperationRow(operation, table);
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintOperations(const v1::ListInstanceOperationsResponse& response, OutputFormat format,
                             std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table(OperationHeader());
  for (const v1::Operation& operation : response.operations()) AddOperationRow(operation, table);
  table.Print(out);
  return absl::OkStatus();
}

absl::Status PrintModel(const v1::Model& model, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(model, out);
  Table about;
  about.AddRow({"ID", model.id()});
  about.AddRow({"NAME", model.name()});
  if (!model.description().empty()) about.AddRow({"DESCRIPTION", model.description()});
  about.AddRow({"CONTEXT", absl::StrCat(model.context_length())});
  about.AddRow({"LICENSE", model.license()});
  if (!model.license_url().empty()) about.AddRow({"LICENSE URL", model.license_url()});
  if (!model.model_card_url().empty()) about.AddRow({"MODEL CARD", model.model_card_url()});
  about.AddRow({"AVAILABLE UNTIL", OrDash(FormatTimestamp(model.dedicated_available_until()))});
  about.Print(out);

  out << "\n";
  Table configurations({"CONFIG", "GPU TYPE", "GPUS", "MAX CONCURRENCY", "PRICE/HOUR"});
  for (const v1::Configuration& c : model.configurations()) {
    configurations.AddRow({c.name(), c.gpu_type(), absl::StrCat(c.gpu_count()),
                           absl::StrCat(c.max_concurrency()), FormatMoney(c.price_per_hour())});
  }
  configurations.Print(out);

  out << "\nGuarantees (p95, per request):\n";
  Table guarantees(
      {"CONFIG", "CONTEXT", "CONCURRENCY", "TTFT MS", "LATENCY MS", "OUTPUT TOKENS", "TOKENS/S"});
  for (const v1::Configuration& c : model.configurations()) {
    for (const v1::Guarantee& g : c.guarantees()) {
      guarantees.AddRow({c.name(), absl::StrCat(g.context_length()), absl::StrCat(g.concurrency()),
                         absl::StrCat(g.ttft_ms()), absl::StrCat(g.latency_ms()),
                         absl::StrCat(g.output_tokens()), absl::StrFormat("%.1f", g.tokens_per_second())});
    }
  }
  guarantees.Print(out);
  return absl::OkStatus();
}

absl::Status PrintModels(const v1::ListModelsResponse& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) return PrintJson(response, out);
  Table table({"ID", "NAME", "CONTEXT", "LICENSE", "CONFIGS", "AVAILABLE UNTIL"});
  for (const v1::Model& model : response.models()) {
    table.AddRow({model.id(), model.name(), absl::StrCat(model.context_length()), model.license(),
                  Configurations(model), OrDash(FormatTimestamp(model.dedicated_available_until()))});
  }
  table.Print(out);
  return absl::OkStatus();
}

}  // namespace dedicated::dictl
