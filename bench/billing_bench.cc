// Issue 5: BillingService.GetUsage latency for one folder with many instances and a long history.
//
// Fills a fresh database (migrations applied here) with --instances ACTIVE instances in folder
// "bench-folder" and as many in "other-folder", each with one replica whose billable intervals cover
// --days days in --intervals-per-day spans (24: hourly churn, the worst case; 1: one span per day), then
// times BillingApi::GetUsage over the whole history (the 30-day window) and over the last day, and
// ListUsageRecords' first page, in process (the SQL is the cost; gRPC adds a constant), and prints
// p50/p99/max. The intervals are inserted closed (but the last), so V010's trigger rolls them up as the
// billing hook's closes would; then VACUUM ANALYZE.
//
//   billing_bench --database-url postgresql://postgres@127.0.0.1:55432/billing_bench [--instances 1000]
//                 [--days 30] [--intervals-per-day 24] [--iterations 200] [--reuse]

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/catalog/catalog.h"
#include "services/common/flags.h"
#include "services/controlplane/billing_api.h"
#include "services/controlplane/billing_store.h"
#include "services/storage/migrations.h"

namespace dedicated {
namespace {

void Fill(storage::DbSession& db, const catalog::Catalog& catalog, int instances, int days, int per_day,
          int64_t start) {
  absl::Status s = db.InTransaction("fill", [&](pqxx::work& tx, storage::DbSession& session) -> absl::Status {
    absl::Status seeded = controlplane::SeedSkuPrices(tx, session, catalog);
    if (!seeded.ok()) return seeded;
    tx.exec("INSERT INTO clouds (id, name) VALUES ('bench-cloud', 'bench-cloud') ON CONFLICT DO NOTHING");
    tx.exec(
        "INSERT INTO folders (id, cloud_id, name) VALUES ('bench-folder', 'bench-cloud', 'bench-folder'), "
        "('other-folder', 'bench-cloud', 'other-folder') ON CONFLICT DO NOTHING");
    tx.exec(
        "INSERT INTO nodes (id, name, gpu_type, gpu_count, address, engine_kind, state) "
        "VALUES ('bench-node', 'bench-node', 'H100-80GB', 8, '127.0.0.1', 'engine-sim', 'READY') "
        "ON CONFLICT DO NOTHING");
    for (const char* folder : {"bench-folder", "other-folder"}) {
      tx.exec_params(
          "INSERT INTO instances (id, folder_id, name, model_id, configuration, replica_count, status) "
          "SELECT $1 || '-' || g, $1, 'i' || g, 'gemma-3-4b-it', CASE WHEN g % 2 = 0 THEN 'S' ELSE 'M' END, 1, "
          "'ACTIVE' FROM generate_series(1, $2) AS g",
          folder, instances);
      // Span k of instance g: [start + k * step, start + (k + 1) * step - 1): one second between spans.
      tx.exec_params(
          "INSERT INTO billable_intervals (folder_id, instance_id, replica_id, node_id, sku_id, configuration, "
          "started_at, ended_at) "
          "SELECT $1, $1 || '-' || g, $1 || '-r' || g, 'bench-node', "
          "  CASE WHEN g % 2 = 0 THEN 'dedicated.gemma-3-4b-it.s' ELSE 'dedicated.gemma-3-4b-it.m' END, "
          "  CASE WHEN g % 2 = 0 THEN 'S' ELSE 'M' END, "
          "  to_timestamp($3::bigint + k * $4::bigint), "
          "  CASE WHEN k = $5 - 1 THEN NULL ELSE to_timestamp($3::bigint + (k + 1) * $4::bigint - 1) END "
          "FROM generate_series(1, $2) AS g, generate_series(0, $5 - 1) AS k",
          folder, instances, start, 86400 / per_day, days * per_day);
    }
    return absl::OkStatus();
  });
  if (s.ok()) {
    // Statistics, and the visibility map that lets the rollup be read index-only: what autovacuum keeps
    // up to date for a month of settled history in production.
    s = db.ReadOneStatement("vacuum", [](pqxx::nontransaction& tx, storage::DbSession&) -> absl::Status {
      tx.exec("VACUUM ANALYZE");
      return absl::OkStatus();
    });
  }
  if (!s.ok()) {
    std::cerr << "fill failed: " << s << "\n";
    std::exit(1);
  }
}

template <typename Fn>
void Time(const std::string& what, int iterations, Fn&& fn) {
  std::vector<double> ms;
  for (int i = 0; i < iterations + 5; ++i) {
    absl::Time t = absl::Now();
    fn();
    if (i >= 5) ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));  // 5 warm-up calls
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&ms](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  std::printf("%-44s n=%zu  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", what.c_str(), ms.size(), pct(0.50), pct(0.99),
              ms.back());
}

}  // namespace
}  // namespace dedicated

int main(int argc, char** argv) {
  using namespace dedicated;
  std::string url;
  int64_t instances = 1000, days = 30, per_day = 24, iterations = 200;
  bool reuse = false;
  FlagSet flags("Usage: billing_bench --database-url URL [flags]");
  flags.String("database-url", "DI_DATABASE_URL", &url, "an empty database to fill (migrations applied here)");
  flags.Int("instances", "", &instances, "instances in the measured folder (and as many in another)");
  flags.Int("days", "", &days, "days of history");
  flags.Int("intervals-per-day", "", &per_day, "billable spans per instance and day (24: hourly churn)");
  flags.Int("iterations", "", &iterations, "timed calls per query");
  flags.Bool("reuse", "", &reuse,
             "time a database filled by an earlier run (the fill takes ~20 min on a busy 2-core machine); the "
             "history then ends up to a few hours before now, which changes nothing measured");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (absl::Status s = flags.Parse(args); !s.ok() || url.empty()) {
    std::cerr << (s.ok() ? "--database-url is required" : s.ToString()) << "\n" << flags.Help();
    return 2;
  }
  auto applied = storage::ApplyMigrations(url, storage::EmbeddedMigrations());
  if (!applied.ok()) {
    std::cerr << applied.status() << "\n";
    return 1;
  }
  auto catalog = catalog::Catalog::FromText(catalog::EmbeddedCatalogText());
  if (!catalog.ok()) return 1;
  storage::DbSession db(url);
  const int64_t end = absl::ToUnixSeconds(absl::Now()) / 3600 * 3600;
  const int64_t start = end - days * 86400;
  if (!reuse) {
    absl::Time fill_start = absl::Now();
    Fill(db, **catalog, static_cast<int>(instances), static_cast<int>(days), static_cast<int>(per_day), start);
    std::printf("filled %lld instances x 2 folders x %lld spans in %.1f s\n", static_cast<long long>(instances),
                static_cast<long long>(days * per_day), absl::ToDoubleSeconds(absl::Now() - fill_start));
  }

  controlplane::BillingApi api(*catalog);
  controlplane::RequestContext rc;
  auto usage = [&](int64_t from, int64_t to) {
    v1::GetUsageRequest req;
    req.set_folder_id("bench-folder");
    req.mutable_start_time()->set_seconds(from);
    req.mutable_end_time()->set_seconds(to);
    auto r = api.GetUsage(db, rc, req);
    if (!r.ok() || r->items_size() != instances) {
      std::cerr << "GetUsage failed: " << (r.ok() ? absl::StrCat(r->items_size(), " items") : r.status().ToString())
                << "\n";
      std::exit(1);
    }
    return r->total_billable_seconds();
  };
  std::printf("30-day total: %lld replica-seconds\n", static_cast<long long>(usage(start, end + 3600)));
  Time(absl::StrCat("GetUsage ", days, " days"), static_cast<int>(iterations), [&] { usage(start, end + 3600); });
  Time("GetUsage last day", static_cast<int>(iterations), [&] { usage(end - 86400, end + 3600); });
  Time("ListUsageRecords last day, page 1000", static_cast<int>(iterations), [&] {
    v1::ListUsageRecordsRequest req;
    req.set_folder_id("bench-folder");
    req.mutable_start_time()->set_seconds(end - 86400);
    req.mutable_end_time()->set_seconds(end);
    req.set_page_size(1000);
    auto r = api.ListUsageRecords(db, rc, req);
    if (!r.ok()) std::exit(1);
  });
  return 0;
}
