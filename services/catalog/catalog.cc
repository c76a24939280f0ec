#include "services/catalog/catalog.h"

#include <fstream>
#include <set>
#include <sstream>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace dedicated::catalog {
namespace {

using dedicated::v1::Configuration;

// Collects text-format parse errors with line numbers instead of printing them to stderr.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (error.empty()) error = absl::StrCat("line ", line + 1, ":", column + 1, ": ", message);
  }
  std::string error;
};

absl::Status Invalid(absl::string_view model, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("catalog: model \"", model, "\": ", what));
}

// Price in nanos for exact ratio checks.
int64_t PriceNanos(const Configuration& c) {
  return c.price_per_hour().units() * 1000000000LL + c.price_per_hour().nanos();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Catalog>> Catalog::FromText(absl::string_view text) {
  auto catalog = std::shared_ptr<Catalog>(new Catalog());
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &catalog->proto_)) {
    return absl::InvalidArgumentError(absl::StrCat("catalog: ", errors.error));
  }
  if (catalog->proto_.models().empty()) return absl::InvalidArgumentError("catalog: no models");
  std::set<std::string> skus;
  for (const config::v1::CatalogModel& cm : catalog->proto_.models()) {
    const auto& m = cm.model();
    if (m.id().empty()) return absl::InvalidArgumentError("catalog: a model has no id");
    if (catalog->by_id_.contains(m.id())) return Invalid(m.id(), "duplicate id");
    if (m.context_length() <= 0) return Invalid(m.id(), "context_length must be positive");
    std::map<std::string, const Configuration*> configs;
    for (const Configuration& c : m.configurations()) {
      if (c.name() != "S" && c.name() != "M" && c.name() != "L") {
        return Invalid(m.id(), absl::StrCat("configuration \"", c.name(), "\" is not S, M or L"));
      }
      if (!configs.emplace(c.name(), &c).second) return Invalid(m.id(), "duplicate configuration");
      if (c.gpu_count() <= 0 || c.max_concurrency() <= 0 || c.gpu_type().empty()) {
        return Invalid(m.id(), absl::StrCat(c.name(), ": gpu_type, gpu_count and max_concurrency are required"));
      }
      if (PriceNanos(c) <= 0) return Invalid(m.id(), absl::StrCat(c.name(), ": price_per_hour must be positive"));
      if (c.sku_id().empty() || !skus.insert(c.sku_id()).second) {
        return Invalid(m.id(), absl::StrCat(c.name(), ": sku_id missing or not unique"));
      }
      if (!cm.sim_profiles().contains(c.name())) {
        return Invalid(m.id(), absl::StrCat(c.name(), ": no engine-sim profile"));
      }
    }
    if (configs.size() != 3) return Invalid(m.id(), "must offer exactly S, M and L");
    std::set<std::pair<std::string, int64_t>> changes;
    for (const config::v1::PriceChange& change : cm.price_changes()) {
      auto config = configs.find(change.configuration());
      absl::Time from;
      std::string err;
      if (config == configs.end()) return Invalid(m.id(), "price_changes: unknown configuration");
      if (!absl::ParseTime(absl::RFC3339_full, change.effective_from(), &from, &err)) {
        return Invalid(m.id(), absl::StrCat("price_changes: effective_from: ", err));
      }
      if (!changes.emplace(change.configuration(), absl::ToUnixSeconds(from)).second) {
        return Invalid(m.id(), "price_changes: two changes of one configuration at the same time");
      }
      const auto& p = change.price_per_hour();
      if (p.units() < 0 || p.nanos() < 0 || p.nanos() >= 1000000000 || (p.units() == 0 && p.nanos() == 0) ||
          p.currency_code() != config->second->price_per_hour().currency_code()) {
        return Invalid(m.id(), "price_changes: price_per_hour must be positive, in the configuration's currency");
      }
    }
    int64_t s = PriceNanos(*configs["S"]);
    if (PriceNanos(*configs["M"]) != 2 * s || PriceNanos(*configs["L"]) != 3 * s) {
      return Invalid(m.id(), "hourly prices must be in the ratio S:M:L = 1:2:3");
    }
    catalog->by_id_.emplace(m.id(), &cm);
    catalog->models_.push_back(m);
  }
  return std::shared_ptr<const Catalog>(std::move(catalog));
}

absl::StatusOr<std::shared_ptr<const Catalog>> Catalog::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("catalog file not readable: ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto catalog = FromText(buffer.str());
  if (!catalog.ok()) {
    return absl::Status(catalog.status().code(), absl::StrCat(path, ": ", catalog.status().message()));
  }
  return catalog;
}

std::vector<SkuPrice> Catalog::Prices() const {
  std::vector<SkuPrice> out;
  auto add = [&out](const Configuration& c, const dedicated::v1::Money& price, absl::Time from) {
    out.push_back({c.sku_id(), "", c.name(), from, price.currency_code(),
                   price.units() * 1000000000LL + price.nanos()});
  };
  for (const config::v1::CatalogModel& cm : proto_.models()) {
    for (const Configuration& c : cm.model().configurations()) {
      add(c, c.price_per_hour(), absl::UnixEpoch());
      out.back().model_id = cm.model().id();
      for (const config::v1::PriceChange& change : cm.price_changes()) {
        if (change.configuration() != c.name()) continue;
        absl::Time from;
        std::string err;
        absl::ParseTime(absl::RFC3339_full, change.effective_from(), &from, &err);  // validated at load
        add(c, change.price_per_hour(), from);
        out.back().model_id = cm.model().id();
      }
    }
  }
  return out;
}

const config::v1::CatalogModel* Catalog::Find(absl::string_view model_id) const {
  auto it = by_id_.find(model_id);
  return it == by_id_.end() ? nullptr : it->second;
}

const Configuration* Catalog::FindConfiguration(absl::string_view model_id, absl::string_view configuration) const {
  const auto* cm = Find(model_id);
  if (cm == nullptr) return nullptr;
  for (const Configuration& c : cm->model().configurations()) {
    if (c.name() == configuration) return &c;
  }
  return nullptr;
}

absl::Status Catalog::CheckDeployable(absl::string_view model_id, absl::Time now) const {
  const auto* cm = Find(model_id);
  if (cm == nullptr) return absl::NotFoundError(absl::StrCat("model ", model_id, " not found"));
  if (!cm->model().has_dedicated_available_until()) return absl::OkStatus();
  absl::Time until = absl::FromUnixSeconds(cm->model().dedicated_available_until().seconds());
  if (now >= until) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", model_id, " is not available for dedicated instances since ",
        absl::FormatTime("%Y-%m-%d %H:%M UTC", until, absl::UTCTimeZone()),
        "; it remains available on shared instances"));
  }
  return absl::OkStatus();
}

std::vector<dedicated::v1::EngineCommand> Catalog::EngineCommands(absl::string_view model_id,
                                                                  absl::string_view configuration,
                                                                  const std::string& served_model_names) const {
  std::vector<dedicated::v1::EngineCommand> out;
  const auto* cm = Find(model_id);
  const auto* config = FindConfiguration(model_id, configuration);
  if (cm == nullptr || config == nullptr) return out;
  const auto& sim = cm->sim_profiles().at(std::string(configuration));
  const std::vector<std::pair<absl::string_view, std::string>> values = {
      {"{model_id}", cm->model().id()},
      {"{weights}", cm->weights()},
      {"{served_model_name}", served_model_names},
      {"{gpu_count}", absl::StrCat(config->gpu_count())},
      {"{max_concurrency}", absl::StrCat(config->max_concurrency())},
      {"{context_length}", absl::StrCat(cm->model().context_length())},
      {"{ttft_ms}", absl::StrCat(sim.ttft_ms())},
      {"{inter_token_ms}", absl::StrCat(sim.inter_token_ms())},
  };
  for (const auto& tmpl : proto_.engine_templates()) {
    dedicated::v1::EngineCommand cmd;
    cmd.set_engine_kind(tmpl.engine_kind());
    cmd.set_readiness_path(tmpl.readiness_path());
    for (const std::string& arg : tmpl.argv()) {
      if (arg == "{served_model_names}") {
        for (absl::string_view name : absl::StrSplit(served_model_names, ',', absl::SkipEmpty())) {
          cmd.add_argv(std::string(name));
        }
        continue;
      }
      cmd.add_argv(absl::StrReplaceAll(arg, values));
    }
    out.push_back(std::move(cmd));
  }
  return out;
}

}  // namespace dedicated::catalog
