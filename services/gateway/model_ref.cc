#include "services/gateway/model_ref.h"

namespace dedicated::gateway {
namespace {

constexpr std::string_view kScheme = "dedicated://";

// Ids are [A-Za-z0-9._-] (services/common/ids.h); anything else cannot name an instance.
bool IsId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<ModelRef> ParseModelRef(std::string_view model) {
  if (model.substr(0, kScheme.size()) != kScheme) {
    if (!IsId(model)) return std::nullopt;
    return ModelRef{std::string(model), std::nullopt};
  }
  std::string_view rest = model.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view folder = rest.substr(0, slash);
  std::string_view instance = rest.substr(slash + 1);
  if (!IsId(folder) || !IsId(instance)) return std::nullopt;
  return ModelRef{std::string(instance), std::string(folder)};
}

}  // namespace dedicated::gateway
