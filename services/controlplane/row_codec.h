#pragma once
// Small conversions between database columns and protobuf shared by the store and step code.

#include <cstdint>
#include <string>

#include "google/protobuf/any.pb.h"
#include "google/protobuf/map.h"
#include "google/protobuf/timestamp.pb.h"

namespace dedicated::controlplane {

// Microseconds since the epoch (how the queries select timestamps) into a Timestamp.
void SetTimestampMicros(google::protobuf::Timestamp* ts, int64_t us);

// Labels as the JSON object stored in jsonb columns.
std::string LabelsJson(const google::protobuf::Map<std::string, std::string>& labels);
// The reverse: a jsonb column's text into a labels map (non-string values are skipped).
void ParseLabelsJson(const std::string& json, google::protobuf::Map<std::string, std::string>* labels);

template <typename M>
google::protobuf::Any PackAny(const M& message) {
  google::protobuf::Any any;
  any.PackFrom(message);
  return any;
}

}  // namespace dedicated::controlplane
