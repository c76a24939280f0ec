#include "services/controlplane/idempotent_mutation.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/common/ids.h"

namespace dedicated::controlplane {

std::string RequestFingerprint(absl::string_view full_method, const google::protobuf::Message& request) {
  // Deterministic serialization: map fields (labels) in a stable order.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  return Sha256Hex(absl::StrCat(full_method, "\n", bytes));
}

}  // namespace dedicated::controlplane
