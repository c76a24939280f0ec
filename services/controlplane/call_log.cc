#include "services/controlplane/call_log.h"

#include <google/protobuf/any.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <memory>
#include <vector>

#include "absl/strings/str_format.h"

namespace dedicated::controlplane {
namespace {

// Request ids and the ids of requests come from clients; a valid id is far shorter than this.
constexpr size_t kMaxIdLength = 128;
// Error messages can quote client input (names, filters); enough to recognise the error.
constexpr size_t kMaxErrorLength = 512;

std::string Cut(std::string_view s, size_t max) { return std::string(s.substr(0, max)); }

}  // namespace

bool IsHighVolumeMethod(std::string_view method) {
  return method == "NodeService.Heartbeat" || method == "NodeService.ReportReplicaStatus" ||
         method == "NodeService.WatchAssignments" || method == "AccessSnapshotService.Watch" ||
         method == "RouteService.Watch";
}

LogLevel CallLogLevel(std::string_view method, absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return LogLevel::kError;
    case absl::StatusCode::kOk:
      return IsHighVolumeMethod(method) ? LogLevel::kDebug : LogLevel::kInfo;
    default:
      return LogLevel::kInfo;
  }
}

void LogCall(const CallRecord& call, const absl::Status& status, absl::Duration elapsed, std::string_view message) {
  const LogLevel level = CallLogLevel(call.method, status.code());
  if (!LogEnabled(level)) return;  // a debug heartbeat line costs nothing unless debug is on
  std::vector<LogField> fields = {
      {"method", call.method},
      {"code", absl::StatusCodeToString(status.code())},
      {"duration_ms", absl::StrFormat("%.3f", absl::ToDoubleMilliseconds(elapsed))},
      {"request_id", Cut(call.request_id, kMaxIdLength)},
  };
  // Only the ids the call has: an absent field reads better than an empty one.
  auto add = [&fields](std::string_view key, const std::string& value) {
    if (!value.empty()) fields.emplace_back(key, Cut(value, kMaxIdLength));
  };
  add("account_id", call.account_id);
  add("account_type", call.account_type);
  add("instance_id", call.instance_id);
  add("operation_id", call.operation_id);
  add("node_id", call.node_id);
  if (!status.ok())
    fields.emplace_back("error",
                        Cut(std::string_view(status.message().data(), status.message().size()), kMaxErrorLength));
  Log(level, message, fields);
}

std::string InstanceIdOfOperation(const v1::Operation& operation) {
  if (!operation.has_metadata()) return "";
  std::string type_name;
  if (!google::protobuf::Any::ParseAnyTypeUrl(operation.metadata().type_url(), &type_name)) return "";
  const google::protobuf::Descriptor* type =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type_name);
  if (type == nullptr) return "";
  const google::protobuf::FieldDescriptor* field = type->FindFieldByName("instance_id");
  if (field == nullptr || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) return "";
  std::unique_ptr<google::protobuf::Message> metadata(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!operation.metadata().UnpackTo(metadata.get())) return "";
  return metadata->GetReflection()->GetString(*metadata, field);
}

}  // namespace dedicated::controlplane
