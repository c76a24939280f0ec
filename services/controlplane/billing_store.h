#pragma once
// SQL of billing (issue 5): SKU prices, billable intervals and the usage queries over them.
//
// A replica bills while its instance is ACTIVE and the replica serves (READY, meant to run, its node not
// DOWN). UpdateBillableIntervals is the one place that opens and closes intervals; RecordTransition calls
// it for every transition that touches a serving state (instance to or from ACTIVE, replica to or from
// READY), inside the transaction of the state change, with the instance row locked (the lock order of
// node_store.h), so an interval can neither be lost nor opened twice by a crash or a race.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/catalog/catalog.h"
#include "services/storage/db_session.h"

namespace dedicated::controlplane {

using storage::DbSession;

// Inserts the catalog's SKUs and price rows that are missing. FAILED_PRECONDITION when the catalog
// gives a different price for a (SKU, effective_from) already stored: prices are history; a change
// is a new catalog price_changes entry, never an edit.
absl::Status SeedSkuPrices(pqxx::work& tx, DbSession& db, const catalog::Catalog& catalog);

// After a transition of the instance (replica_id empty) or of one of its replicas (to `to_state`), in its
// transaction: closes the open intervals of replicas that no longer serve, opens one for each serving
// replica without one. Times are di_now() truncated to the second.
void UpdateBillableIntervals(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                             const std::string& replica_id, const std::string& to_state);

// For nodes just marked DOWN (in that transaction): their replicas' intervals end at the node's last
// heartbeat, not when the silence was noticed; time billed after it is taken back.
void EndBillingAtLastHeartbeat(pqxx::work& tx, DbSession& db, const std::vector<std::string>& node_ids);

// Usage of one instance and SKU in a window. `cost_numerator` is sum(seconds x price per hour in nanos),
// exact; CostMinorUnits turns it into money.
struct UsageLine {
  std::string instance_id;
  std::string sku_id;
  std::string model_id;
  std::string configuration;
  std::string currency_code;
  int64_t seconds = 0;
  __int128 cost_numerator = 0;
};

// Per instance and SKU, billable seconds in [start, end) (whole seconds; the end is clipped to now).
// Reads the rollup of closed intervals (V010) for whole hours and days and raw intervals only for the
// partial hours at the edges and for open intervals; equal to computing it from the raw intervals alone
// (billing_pgtest.cc checks that on random data). Two statements: now, then the usage.
std::vector<UsageLine> QueryUsage(pqxx::transaction_base& tx, DbSession& db, const std::string& folder_id,
                                  int64_t start_unix, int64_t end_unix);

struct UsageRecordRow {
  int64_t hour_start_unix = 0;
  UsageLine line;
};
// Per hour (UTC), instance and SKU, ordered by (hour, instance, SKU), after the cursor if given, at most
// `limit` rows.
struct UsageRecordCursor {
  int64_t hour_start_unix = 0;
  std::string instance_id;
  std::string sku_id;
};
std::vector<UsageRecordRow> QueryUsageRecords(pqxx::transaction_base& tx, DbSession& db, const std::string& folder_id,
                                              int64_t start_unix, int64_t end_unix,
                                              const std::optional<UsageRecordCursor>& after, int64_t limit);

// Billable seconds per (folder, configuration) in [from, to), for the meter's counter.
struct MeteredSeconds {
  std::string folder_id;
  std::string configuration;
  int64_t seconds = 0;
};
std::vector<MeteredSeconds> QueryMeteredSeconds(pqxx::transaction_base& tx, DbSession& db, int64_t from_unix,
                                                int64_t to_unix);
// di_now() in whole seconds since the epoch.
int64_t DbNowUnix(pqxx::transaction_base& tx, DbSession& db);

// The rounding rule: cost = sum(seconds x hourly price) / 3600, rounded half up to the currency's minor
// unit (1/100: every catalog currency has two decimals), once per usage line (instance x SKU in the
// window, or per hourly record). Returns minor units.
int64_t CostMinorUnits(__int128 cost_numerator);

}  // namespace dedicated::controlplane
