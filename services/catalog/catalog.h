#pragma once
// The model catalog: which models can be deployed, on which configurations, at what price, until when.
// Loaded once at start from protobuf text format and validated; immutable afterwards (safe to share).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dedicated/config/v1/catalog.pb.h"
#include "dedicated/v1/model.pb.h"
#include "dedicated/v1/node_service.pb.h"

namespace dedicated::catalog {

// The text of catalog/catalog.textproto compiled into the binary.
const char* EmbeddedCatalogText();

// One price row of one SKU (model x configuration): `price_per_hour_nanos` billionths of the currency unit
// per replica-hour, from `effective_from` until the SKU's next row. The base price starts at the epoch.
struct SkuPrice {
  std::string sku_id;
  std::string model_id;
  std::string configuration;
  absl::Time effective_from;
  std::string currency_code;
  int64_t price_per_hour_nanos = 0;
};

class Catalog {
 public:
  // Parses and validates: unique model ids, exactly S, M and L per model with positive GPUs and
  // concurrency, price ratio S:M:L = 1:2:3, unique SKU ids, sim profiles for every configuration.
  static absl::StatusOr<std::shared_ptr<const Catalog>> FromText(absl::string_view text);
  static absl::StatusOr<std::shared_ptr<const Catalog>> FromFile(const std::string& path);

  const std::vector<dedicated::v1::Model>& models() const { return models_; }
  // nullptr when unknown.
  const config::v1::CatalogModel* Find(absl::string_view model_id) const;
  const dedicated::v1::Configuration* FindConfiguration(absl::string_view model_id,
                                                        absl::string_view configuration) const;

  // Every SKU's price rows (base price and price_changes), for billing.
  std::vector<SkuPrice> Prices() const;

  // OK, or FAILED_PRECONDITION when the model may no longer be deployed on dedicated instances at `now`.
  absl::Status CheckDeployable(absl::string_view model_id, absl::Time now) const;

  // The engine command lines of every engine kind for one replica, with the catalog's values filled in
  // (the agent fills {host}, {port}, {gpu_ids}, {engine_sim}). `served_model_names` is comma-separated.
  std::vector<dedicated::v1::EngineCommand> EngineCommands(absl::string_view model_id,
                                                           absl::string_view configuration,
                                                           const std::string& served_model_names) const;

 private:
  config::v1::Catalog proto_;
  std::vector<dedicated::v1::Model> models_;
  std::map<std::string, const config::v1::CatalogModel*, std::less<>> by_id_;
};

}  // namespace dedicated::catalog
