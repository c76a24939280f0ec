#pragma once
// How dictl prints: aligned tables for people, protobuf JSON for scripts.

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dedicated/v1/instance.pb.h"
#include "dedicated/v1/instance_service.pb.h"
#include "dedicated/v1/model.pb.h"
#include "dedicated/v1/model_service.pb.h"
#include "dedicated/v1/money.pb.h"
#include "dedicated/v1/operation.pb.h"

namespace dedicated::dictl {

// kCsv is understood by `dictl usage` only (the CLI refuses it for other verbs).
enum class OutputFormat { kTable, kJson, kCsv };

// "table" | "json" | "csv"; the error names --format.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// Characters in a UTF-8 string: what a terminal column count is close to.
size_t DisplayWidth(absl::string_view text);

// Rows of cells printed in columns as wide as their widest cell, two spaces apart, without trailing
// spaces. Widths count UTF-8 characters, not bytes, so names in Cyrillic line up too.
class Table {
 public:
  // An empty header prints no header line (key/value tables).
  explicit Table(std::vector<std::string> header = {});
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
  bool has_header_;
};

// A function that prints one message in the chosen format; only JSON can fail.
template <typename Message>
using Printer = absl::Status (*)(const Message&, OutputFormat, std::ostream&);

// Pretty JSON with proto field names and every field present (so scripts never miss a key), ending in
// a newline. Any fields are expanded; their types resolve because dedicated_proto is linked in.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);
// ToJson written to `out`.
absl::Status PrintJson(const google::protobuf::Message& message, std::ostream& out);

// RFC 3339 in UTC, e.g. "2025-11-10T00:00:00Z"; "" for an unset timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);
// "402 RUB", "12.5 RUB".
std::string FormatMoney(const v1::Money& money);
// "k=v,k2=v2", sorted by key.
std::string FormatLabels(const google::protobuf::Map<std::string, std::string>& labels);
std::string InstanceStatusName(v1::Instance::Status status);

// The instance an operation is about, from whichever *InstanceMetadata it carries; "" if none.
std::string InstanceIdOf(const v1::Operation& operation);
// "create instance <id>" and the like, for the progress line; falls back to the description.
std::string DescribeOperation(const v1::Operation& operation);
// "" while running, "ok" on success, "<CODE_NAME>: <message>" on failure.
std::string OperationResult(const v1::Operation& operation);

// Each prints one response in the chosen format. Only JSON can fail (an Any of a type this build does
// not know).
absl::Status PrintInstance(const v1::Instance& instance, OutputFormat format, std::ostream& out);
absl::Status PrintInstances(const v1::ListInstancesResponse& response, OutputFormat format,
                            std::ostream& out);
absl::Status PrintOperation(const v1::Operation& operation, OutputFormat format, std::ostream& out);
absl::Status PrintOperations(const v1::ListInstanceOperationsResponse& response, OutputFormat format,
                             std::ostream& out);
absl::Status PrintModel(const v1::Model& model, OutputFormat format, std::ostream& out);
absl::Status PrintModels(const v1::ListModelsResponse& response, OutputFormat format, std::ostream& out);

}  // namespace dedicated::dictl
