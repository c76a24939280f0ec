#include "services/controlplane/row_codec.h"

#include <nlohmann/json.hpp>

namespace dedicated::controlplane {

void SetTimestampMicros(google::protobuf::Timestamp* ts, int64_t us) {
  ts->set_seconds(us / 1000000);
  ts->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

std::string LabelsJson(const google::protobuf::Map<std::string, std::string>& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j.dump();
}

void ParseLabelsJson(const std::string& json, google::protobuf::Map<std::string, std::string>* labels) {
  auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return;
  for (auto& [k, v] : parsed.items()) {
    if (v.is_string()) (*labels)[k] = v.get<std::string>();
  }
}

}  // namespace dedicated::controlplane
