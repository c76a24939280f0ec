#pragma once
// The OpenAI `model` field names a dedicated instance: its model_uri (dedicated://<folder_id>/<instance_id>)
// or its bare id.

#include <optional>
#include <string>
#include <string_view>

namespace dedicated::gateway {

struct ModelRef {
  std::string instance_id;
  // Set when the caller named it (model_uri form); it must match the instance's folder.
  std::optional<std::string> folder_id;
};

// nullopt when `model` is neither form (empty, wrong scheme, extra path segments, characters that no id
// has).
std::optional<ModelRef> ParseModelRef(std::string_view model);

}  // namespace dedicated::gateway
