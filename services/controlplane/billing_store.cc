#include "services/controlplane/billing_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/controlplane/usage_window.h"

namespace dedicated::controlplane {
namespace {

using storage::Sql;

constexpr Sql kInsertSku{"billing_sku_insert", R"sql(
  INSERT INTO skus (id, model_id, configuration) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING)sql"};
constexpr Sql kInsertPrice{"billing_price_insert", R"sql(
  INSERT INTO sku_prices (sku_id, effective_from, currency_code, price_per_hour_nanos)
  VALUES ($1, to_timestamp($2::bigint), $3, $4) ON CONFLICT (sku_id, effective_from) DO NOTHING)sql"};
constexpr Sql kSelectPrice{"billing_price_select", R"sql(
  SELECT currency_code, price_per_hour_nanos FROM sku_prices WHERE sku_id = $1 AND effective_from = to_timestamp($2::bigint))sql"};

// Serving: the instance ACTIVE, the replica READY and meant to run, its node not DOWN.
#define DI_SERVING "i.status = 'ACTIVE' AND r.state = 'READY' AND r.desired_state = 'RUNNING' AND n.state <> 'DOWN'"
#define DI_NOW_SECOND "date_trunc('second', di_now())"

constexpr Sql kCloseReplica{"billing_close_replica", R"sql(
  UPDATE billable_intervals SET ended_at = greatest(started_at, )sql" DI_NOW_SECOND R"sql()
  WHERE replica_id = $1 AND ended_at IS NULL)sql"};
constexpr Sql kCloseNotServing{"billing_close_not_serving", R"sql(
  UPDATE billable_intervals b SET ended_at = greatest(b.started_at, )sql" DI_NOW_SECOND R"sql()
  WHERE b.instance_id = $1 AND b.ended_at IS NULL AND NOT EXISTS (
    SELECT 1 FROM replicas r JOIN instances i ON i.id = r.instance_id JOIN nodes n ON n.id = r.node_id
    WHERE r.id = b.replica_id AND r.configuration = b.configuration AND )sql" DI_SERVING R"sql())sql"};
// A new interval never starts before the replica's previous one ended, even when this transaction began
// (di_now() is the transaction's time) before the one that closed it: the exclusion constraint holds.
// A missing SKU leaves sku_id NULL and fails the statement loudly rather than billing nothing.
constexpr Sql kOpenServing{"billing_open_serving", R"sql(
  INSERT INTO billable_intervals (folder_id, instance_id, replica_id, node_id, sku_id, configuration, started_at)
  SELECT i.folder_id, i.id, r.id, r.node_id, k.id, r.configuration,
         greatest()sql" DI_NOW_SECOND R"sql(,
                  coalesce((SELECT p.ended_at FROM billable_intervals p  -- index billable_intervals_by_replica_end
                            WHERE p.replica_id = r.id AND p.ended_at IS NOT NULL ORDER BY p.ended_at DESC LIMIT 1),
                           '-infinity'::timestamptz))
  FROM instances i JOIN replicas r ON r.instance_id = i.id JOIN nodes n ON n.id = r.node_id
       LEFT JOIN skus k ON k.model_id = i.model_id AND k.configuration = r.configuration
  WHERE i.id = $1 AND r.id <> $2 AND )sql" DI_SERVING R"sql(
    AND NOT EXISTS (SELECT 1 FROM billable_intervals o WHERE o.replica_id = r.id AND o.ended_at IS NULL))sql"};
constexpr Sql kEndAtLastHeartbeat{"billing_end_at_last_heartbeat", R"sql(
  UPDATE billable_intervals b SET ended_at = greatest(b.started_at, date_trunc('second', n.last_heartbeat_at))
  FROM nodes n
  WHERE n.id = ANY(string_to_array($1, ',')) AND b.node_id = n.id
    AND coalesce(b.ended_at, 'infinity'::timestamptz) > date_trunc('second', n.last_heartbeat_at))sql"};

// GetUsage over the rollup (V010), the window split by PlanUsageWindow (usage_window.h). $2/$3: the window
// [ws, we), we clipped to now; $4/$5: raw ranges for closed intervals (the partial hours at the edges);
// $6-$9: rollup ranges (bucket size, from, to, sign). Open intervals are read raw over the whole window.
// Everything is cut at price spans, summed per price span, then priced once.
constexpr Sql kUsage{"billing_usage_rollup", R"sql(
  WITH raw AS (
    SELECT b.instance_id, b.sku_id, greatest(b.started_at, to_timestamp(u.f)) AS s,
           least(b.ended_at, to_timestamp(u.t)) AS e
    FROM unnest($4::bigint[], $5::bigint[]) AS u (f, t)
         JOIN billable_intervals b ON b.folder_id = $1 AND b.ended_at IS NOT NULL
          AND tstzrange(b.started_at, b.ended_at, '[)') && tstzrange(to_timestamp(u.f), to_timestamp(u.t), '[)')
    UNION ALL
    SELECT b.instance_id, b.sku_id, greatest(b.started_at, to_timestamp($2::bigint)), to_timestamp($3::bigint)
    FROM billable_intervals b
    WHERE b.folder_id = $1 AND b.ended_at IS NULL AND b.started_at < to_timestamp($3::bigint)),
  prices AS (
    SELECT sku_id, effective_from AS pf,
           coalesce(lead(effective_from) OVER (PARTITION BY sku_id ORDER BY effective_from),
                    'infinity'::timestamptz) AS pt
    FROM sku_prices),
  pieces AS (
    SELECT raw.instance_id, raw.sku_id, pr.pf AS price_from,
           extract(epoch FROM least(raw.e, pr.pt) - greatest(raw.s, pr.pf))::bigint AS seconds
    FROM raw JOIN prices pr ON pr.sku_id = raw.sku_id AND pr.pf < raw.e AND pr.pt > raw.s
    WHERE raw.e > raw.s
    UNION ALL
    SELECT r.instance_id, r.sku_id, r.price_from, u.sign * r.seconds
    FROM unnest($6::integer[], $7::bigint[], $8::bigint[], $9::integer[]) AS u (size, f, t, sign)
         CROSS JOIN LATERAL (
           SELECT instance_id, sku_id, price_from, seconds FROM billable_seconds_rollup
           WHERE folder_id = $1 AND bucket_seconds = u.size
             AND bucket_start >= to_timestamp(u.f) AND bucket_start < to_timestamp(u.t)) r),
  per_price AS (
    SELECT instance_id, sku_id, price_from, sum(seconds) AS seconds
    FROM pieces GROUP BY instance_id, sku_id, price_from)
  SELECT pp.instance_id, pp.sku_id, k.model_id, k.configuration, p.currency_code,
         sum(pp.seconds)::bigint, sum(pp.seconds * p.price_per_hour_nanos)::text
  FROM per_price pp JOIN sku_prices p ON p.sku_id = pp.sku_id AND p.effective_from = pp.price_from
       JOIN skus k ON k.id = pp.sku_id
  GROUP BY pp.instance_id, pp.sku_id, k.model_id, k.configuration, p.currency_code
  HAVING sum(pp.seconds) > 0
  ORDER BY pp.instance_id, pp.sku_id)sql"};

// ListUsageRecords: per UTC hour, instance and SKU, after the cursor, at most $8 rows. $2/$3: the window
// [ws, we), we clipped to now; $4: has cursor; ($5, $6, $7): the last row returned (hour, instance, SKU);
// [$9, $10): the window's whole hours, read from the hourly rollup (V010); the partial hours at the edges
// and open intervals are cut into hours from the raw intervals. Only the hours of this page are computed:
// from the cursor's hour to the hour of the $8-th rollup record after the cursor (the page cannot reach
// past it: other sources only add records).
constexpr Sql kUsageRecords{"billing_usage_records_rollup", R"sql(
  WITH after AS (
    SELECT bucket_start, instance_id, sku_id FROM billable_seconds_rollup
    WHERE folder_id = $1 AND bucket_seconds = 3600
      AND bucket_start >= to_timestamp($9::bigint) AND bucket_start < to_timestamp($10::bigint)
      AND (NOT $4 OR (bucket_start, instance_id, sku_id) > (to_timestamp($5::bigint), $6::text, $7::text))
    GROUP BY bucket_start, instance_id, sku_id
    ORDER BY bucket_start, instance_id, sku_id LIMIT $8),
  page AS (
    SELECT greatest(to_timestamp($2::bigint), CASE WHEN $4 THEN to_timestamp($5::bigint) ELSE '-infinity' END) AS ps,
           least(to_timestamp($3::bigint),
                 (SELECT CASE WHEN count(*) = $8 THEN max(bucket_start) + interval '1 hour' ELSE 'infinity' END
                  FROM after)) AS pe),
  spans AS (
    SELECT b.instance_id, b.sku_id, greatest(b.started_at, r.s, page.ps) AS s, least(b.ended_at, r.e, page.pe) AS e
    FROM page CROSS JOIN (VALUES (to_timestamp($2::bigint), to_timestamp($9::bigint)),
                                 (to_timestamp($10::bigint), to_timestamp($3::bigint))) AS r (s, e)
         JOIN billable_intervals b ON b.folder_id = $1 AND b.ended_at IS NOT NULL AND r.s < r.e
          AND tstzrange(b.started_at, b.ended_at, '[)') && tstzrange(r.s, r.e, '[)')
    UNION ALL
    SELECT b.instance_id, b.sku_id, greatest(b.started_at, page.ps), page.pe
    FROM page CROSS JOIN billable_intervals b
    WHERE b.folder_id = $1 AND b.ended_at IS NULL AND b.started_at < page.pe),
  hours AS (
    SELECT sp.instance_id, sp.sku_id, h AS hour, greatest(sp.s, h) AS s, least(sp.e, h + interval '1 hour') AS e
    FROM spans sp CROSS JOIN LATERAL generate_series(
        date_trunc('hour', sp.s, 'UTC'), sp.e - interval '1 second', interval '1 hour') AS h
    WHERE sp.e > sp.s),
  prices AS (
    SELECT sku_id, effective_from AS pf,
           coalesce(lead(effective_from) OVER (PARTITION BY sku_id ORDER BY effective_from),
                    'infinity'::timestamptz) AS pt
    FROM sku_prices),
  pieces AS (
    SELECT hr.hour, hr.instance_id, hr.sku_id, pr.pf AS price_from,
           extract(epoch FROM least(hr.e, pr.pt) - greatest(hr.s, pr.pf))::bigint AS seconds
    FROM hours hr JOIN prices pr ON pr.sku_id = hr.sku_id AND pr.pf < hr.e AND pr.pt > hr.s
    UNION ALL
    SELECT r.bucket_start, r.instance_id, r.sku_id, r.price_from, r.seconds
    FROM page CROSS JOIN billable_seconds_rollup r
    WHERE r.folder_id = $1 AND r.bucket_seconds = 3600
      AND r.bucket_start >= greatest(to_timestamp($9::bigint), date_trunc('hour', page.ps, 'UTC'))
      AND r.bucket_start < least(to_timestamp($10::bigint), page.pe)),
  per_price AS (
    SELECT hour, instance_id, sku_id, price_from, sum(seconds) AS seconds
    FROM pieces GROUP BY hour, instance_id, sku_id, price_from),
  rows AS (
    SELECT extract(epoch FROM pp.hour)::bigint AS hour_unix, pp.instance_id, pp.sku_id, k.model_id,
           k.configuration, p.currency_code, sum(pp.seconds)::bigint AS secs,
           sum(pp.seconds * p.price_per_hour_nanos)::text AS numerator
    FROM per_price pp JOIN sku_prices p ON p.sku_id = pp.sku_id AND p.effective_from = pp.price_from
         JOIN skus k ON k.id = pp.sku_id
    GROUP BY pp.hour, pp.instance_id, pp.sku_id, k.model_id, k.configuration, p.currency_code
    HAVING sum(pp.seconds) > 0)
  SELECT * FROM rows
  WHERE NOT $4 OR (hour_unix, instance_id, sku_id) > ($5::bigint, $6::text, $7::text)
  ORDER BY hour_unix, instance_id, sku_id LIMIT $8)sql"};

constexpr Sql kMetered{"billing_metered", R"sql(
  SELECT folder_id, configuration,
         sum(extract(epoch FROM least(coalesce(ended_at, 'infinity'::timestamptz), to_timestamp($2::bigint))
                                - greatest(started_at, to_timestamp($1::bigint))))::bigint
  FROM billable_intervals
  WHERE coalesce(ended_at, 'infinity'::timestamptz) > to_timestamp($1::bigint) AND started_at < to_timestamp($2::bigint)
  GROUP BY folder_id, configuration ORDER BY folder_id, configuration)sql"};
constexpr Sql kDbNow{"billing_db_now", "SELECT extract(epoch FROM " DI_NOW_SECOND ")::bigint"};

__int128 ParseNumerator(const std::string& text) {
  __int128 v = 0;
  for (char c : text) {
    if (c == '.') break;  // sums of integer products: no fraction
    if (c >= '0' && c <= '9') v = v * 10 + (c - '0');
  }
  return v;
}

// Ranges as PostgreSQL array literals ("{1,2}"), one per column, for unnest() in kUsage.
struct RangeArrays {
  std::string size, from, to, sign;
};
RangeArrays ToArrays(const std::vector<SignedRange>& ranges) {
  std::vector<int64_t> size, from, to, sign;
  for (const SignedRange& r : ranges) {
    size.push_back(r.bucket_seconds);
    from.push_back(r.from);
    to.push_back(r.to);
    sign.push_back(r.sign);
  }
  auto literal = [](const std::vector<int64_t>& v) { return absl::StrCat("{", absl::StrJoin(v, ","), "}"); };
  return {literal(size), literal(from), literal(to), literal(sign)};
}

UsageLine LineFromRow(const pqxx::row& r, int first) {
  UsageLine line;
  line.instance_id = r[first].as<std::string>();
  line.sku_id = r[first + 1].as<std::string>();
  line.model_id = r[first + 2].as<std::string>();
  line.configuration = r[first + 3].as<std::string>();
  line.currency_code = r[first + 4].as<std::string>();
  line.seconds = r[first + 5].as<int64_t>();
  line.cost_numerator = ParseNumerator(r[first + 6].as<std::string>());
  return line;
}

}  // namespace

absl::Status SeedSkuPrices(pqxx::work& tx, DbSession& db, const catalog::Catalog& catalog) {
  for (const catalog::SkuPrice& p : catalog.Prices()) {
    const int64_t from = absl::ToUnixSeconds(p.effective_from);
    db.Exec(tx, kInsertSku, p.sku_id, p.model_id, p.configuration);
    db.Exec(tx, kInsertPrice, p.sku_id, from, p.currency_code, p.price_per_hour_nanos);
    pqxx::result stored = db.Exec(tx, kSelectPrice, p.sku_id, from);
    if (stored.empty() || stored[0][0].as<std::string>() != p.currency_code ||
        stored[0][1].as<int64_t>() != p.price_per_hour_nanos) {
      return absl::FailedPreconditionError(
          absl::StrCat("catalog: the price of SKU ", p.sku_id, " from ", absl::FormatTime(p.effective_from),
                       " differs from the one already billed with; prices are history: add a price_changes entry"));
    }
  }
  return absl::OkStatus();
}

void UpdateBillableIntervals(pqxx::work& tx, DbSession& db, const std::string& instance_id,
                             const std::string& replica_id, const std::string& to_state) {
  // A replica transition to anything but READY ends its interval whatever the rest of its row says
  // (DELETED is recorded just before the row goes).
  std::string leaving = (!replica_id.empty() && to_state != "READY") ? replica_id : "";
  if (!leaving.empty()) db.Exec(tx, kCloseReplica, leaving);
  db.Exec(tx, kCloseNotServing, instance_id);
  db.Exec(tx, kOpenServing, instance_id, leaving);
}

void EndBillingAtLastHeartbeat(pqxx::work& tx, DbSession& db, const std::vector<std::string>& node_ids) {
  if (node_ids.empty()) return;
  db.Exec(tx, kEndAtLastHeartbeat, absl::StrJoin(node_ids, ","));
}

std::vector<UsageLine> QueryUsage(pqxx::transaction_base& tx, DbSession& db, const std::string& folder_id,
                                  int64_t start_unix, int64_t end_unix) {
  // Usage after now is not usage yet. Now is read first (its own statement: the usage query below is one
  // snapshot by itself, and a second that passes between the two is simply not in this answer).
  const int64_t end = std::min(end_unix, DbNowUnix(tx, db));
  std::vector<UsageLine> out;
  if (end <= start_unix) return out;
  const UsageWindowPlan plan = PlanUsageWindow(start_unix, end);
  const RangeArrays raw = ToArrays(plan.raw), rollup = ToArrays(plan.rollup);
  for (const auto& r : db.Exec(tx, kUsage, folder_id, start_unix, end, raw.from, raw.to, rollup.size, rollup.from,
                               rollup.to, rollup.sign)) {
    out.push_back(LineFromRow(r, 0));
  }
  return out;
}

std::vector<UsageRecordRow> QueryUsageRecords(pqxx::transaction_base& tx, DbSession& db, const std::string& folder_id,
                                              int64_t start_unix, int64_t end_unix,
                                              const std::optional<UsageRecordCursor>& after, int64_t limit) {
  const int64_t end = std::min(end_unix, DbNowUnix(tx, db));  // as in QueryUsage
  std::vector<UsageRecordRow> out;
  if (end <= start_unix) return out;
  // The whole hours of the window (none: an empty range, and everything is cut from raw intervals).
  int64_t first_hour = CeilToMultiple(start_unix, kRollupBucketSeconds[0]);
  int64_t last_hour = FloorToMultiple(end, kRollupBucketSeconds[0]);
  if (first_hour >= last_hour) first_hour = last_hour = end;
  UsageRecordCursor cursor = after.value_or(UsageRecordCursor{});
  for (const auto& r : db.Exec(tx, kUsageRecords, folder_id, start_unix, end, after.has_value(),
                               cursor.hour_start_unix, cursor.instance_id, cursor.sku_id, limit, first_hour,
                               last_hour)) {
    out.push_back({r[0].as<int64_t>(), LineFromRow(r, 1)});
  }
  return out;
}

std::vector<MeteredSeconds> QueryMeteredSeconds(pqxx::transaction_base& tx, DbSession& db, int64_t from_unix,
                                                int64_t to_unix) {
  std::vector<MeteredSeconds> out;
  for (const auto& r : db.Exec(tx, kMetered, from_unix, to_unix)) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>()});
  }
  return out;
}

int64_t DbNowUnix(pqxx::transaction_base& tx, DbSession& db) { return db.Exec(tx, kDbNow)[0][0].as<int64_t>(); }

int64_t CostMinorUnits(__int128 cost_numerator) {
  // numerator: seconds x nanos-per-hour. One minor unit (1/100) is 1e7 nanos; an hour 3600 seconds.
  constexpr __int128 kDivisor = static_cast<__int128>(3600) * 10000000;
  if (cost_numerator < 0) return -CostMinorUnits(-cost_numerator);
  return static_cast<int64_t>((cost_numerator + kDivisor / 2) / kDivisor);
}

}  // namespace dedicated::controlplane
