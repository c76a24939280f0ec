// The billing rollup (migrations/V010__billing_rollup.sql, usage_window.h) against the real PostgreSQL: on
// random histories (intervals with random edges, open intervals, trims, deletes, price changes before
// and after the intervals they split), QueryUsage, which reads the rollup, equals a direct computation
// from the raw intervals for random windows, and the rollup equals one recomputed from scratch.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "services/controlplane/billing_store.h"
#include "services/controlplane/testing/controlplane_fixture.h"

namespace dedicated::controlplane {
namespace {

constexpr char kSkuS[] = "dedicated.gemma-3-4b-it.s";
constexpr char kSkuM[] = "dedicated.gemma-3-4b-it.m";

// The usage query as it was before the rollup (V008): every interval of the folder overlapping the
// window, clipped, cut at price spans, summed. The oracle.
constexpr char kDirectUsage[] = R"sql(
  WITH w AS (SELECT to_timestamp($2::bigint) AS ws, least(to_timestamp($3::bigint), date_trunc('second', di_now())) AS we),
  spans AS (
    SELECT b.instance_id, b.sku_id, greatest(b.started_at, w.ws) AS s, least(coalesce(b.ended_at, w.we), w.we) AS e
    FROM billable_intervals b CROSS JOIN w
    WHERE b.folder_id = $1 AND coalesce(b.ended_at, 'infinity'::timestamptz) > w.ws AND b.started_at < w.we),
  prices AS (
    SELECT sku_id, currency_code, price_per_hour_nanos AS p, effective_from AS pf,
           coalesce(lead(effective_from) OVER (PARTITION BY sku_id ORDER BY effective_from), 'infinity'::timestamptz) AS pt
    FROM sku_prices),
  pieces AS (
    SELECT sp.instance_id, sp.sku_id, pr.currency_code, pr.p,
           extract(epoch FROM least(sp.e, pr.pt) - greatest(sp.s, pr.pf))::bigint AS secs
    FROM spans sp JOIN prices pr ON pr.sku_id = sp.sku_id AND pr.pf < sp.e AND pr.pt > sp.s
    WHERE sp.e > sp.s)
  SELECT pc.instance_id, pc.sku_id, k.model_id, k.configuration, pc.currency_code,
         sum(pc.secs)::bigint, sum(pc.secs::numeric * pc.p)::text
  FROM pieces pc JOIN skus k ON k.id = pc.sku_id
  GROUP BY pc.instance_id, pc.sku_id, k.model_id, k.configuration, pc.currency_code
  ORDER BY pc.instance_id, pc.sku_id)sql";

// ListUsageRecords' query before the rollup, all rows of the window (no cursor): the oracle for pages.
constexpr char kDirectRecords[] = R"sql(
  WITH w AS (SELECT to_timestamp($2::bigint) AS ws, least(to_timestamp($3::bigint), date_trunc('second', di_now())) AS we),
  spans AS (
    SELECT b.instance_id, b.sku_id, greatest(b.started_at, w.ws) AS s, least(coalesce(b.ended_at, w.we), w.we) AS e
    FROM billable_intervals b CROSS JOIN w
    WHERE b.folder_id = $1 AND coalesce(b.ended_at, 'infinity'::timestamptz) > w.ws AND b.started_at < w.we),
  prices AS (
    SELECT sku_id, currency_code, price_per_hour_nanos AS p, effective_from AS pf,
           coalesce(lead(effective_from) OVER (PARTITION BY sku_id ORDER BY effective_from), 'infinity'::timestamptz) AS pt
    FROM sku_prices),
  hours AS (
    SELECT sp.instance_id, sp.sku_id, h AS hour, greatest(sp.s, h) AS s, least(sp.e, h + interval '1 hour') AS e
    FROM spans sp CROSS JOIN LATERAL generate_series(
        date_trunc('hour', sp.s AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sp.e - interval '1 second', interval '1 hour') AS h
    WHERE sp.e > sp.s),
  pieces AS (
    SELECT hr.hour, hr.instance_id, hr.sku_id, pr.currency_code, pr.p,
           extract(epoch FROM least(hr.e, pr.pt) - greatest(hr.s, pr.pf))::bigint AS secs
    FROM hours hr JOIN prices pr ON pr.sku_id = hr.sku_id AND pr.pf < hr.e AND pr.pt > hr.s)
  SELECT extract(epoch FROM pc.hour)::bigint, pc.instance_id, pc.sku_id, k.model_id, k.configuration, pc.currency_code,
         sum(pc.secs)::bigint, sum(pc.secs::numeric * pc.p)::text
  FROM pieces pc JOIN skus k ON k.id = pc.sku_id
  GROUP BY pc.hour, pc.instance_id, pc.sku_id, k.model_id, k.configuration, pc.currency_code
  ORDER BY 1, 2, 3)sql";

// The rollup as V010's backfill would build it now; compared both ways with the maintained one.
constexpr char kRollupMismatches[] = R"sql(
  WITH fresh AS (
    SELECT b.folder_id, z.size AS bucket_seconds,
           to_timestamp(floor(extract(epoch FROM p.hour) / z.size) * z.size) AS bucket_start, b.instance_id,
           b.sku_id, p.price_from, sum(p.seconds) AS seconds
    FROM billable_intervals b
         CROSS JOIN LATERAL billable_hour_pieces(b.sku_id, b.started_at, b.ended_at) p
         CROSS JOIN unnest(billable_rollup_bucket_seconds()) AS z (size)
    WHERE b.ended_at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6),
  kept AS (SELECT folder_id, bucket_seconds, bucket_start, instance_id, sku_id, price_from, seconds
           FROM billable_seconds_rollup)
  SELECT (SELECT count(*) FROM (SELECT * FROM fresh EXCEPT SELECT * FROM kept) a) +
         (SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM fresh) b))sql";

using Line = std::tuple<std::string, std::string, std::string, std::string, std::string, int64_t, std::string>;
using Record = std::pair<int64_t, Line>;

std::string Text(__int128 v) {
  if (v == 0) return "0";
  std::string s;
  for (; v > 0; v /= 10) s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
  return s;
}

class BillingRollupTest : public testing::ControlplaneFixture, public ::testing::WithParamInterface<int> {
 protected:
  void Exec(const std::string& sql) {
    pqxx::connection conn(db_.dsn());
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  }

  std::vector<Line> ViaRollup(const std::string& folder, int64_t from, int64_t to) {
    std::vector<Line> out;
    absl::Status s = session_.ReadOneStatement("usage", [&](pqxx::nontransaction& tx, storage::DbSession& db) {
      out.clear();
      for (const UsageLine& l : QueryUsage(tx, db, folder, from, to)) {
        out.emplace_back(l.instance_id, l.sku_id, l.model_id, l.configuration, l.currency_code, l.seconds,
                         Text(l.cost_numerator));
      }
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // Every record of the window, page by page (`page_size` rows each) through the cursor.
  std::vector<Record> RecordsViaRollup(int64_t from, int64_t to, int64_t page_size) {
    std::vector<Record> out;
    std::optional<UsageRecordCursor> after;
    for (int page = 0; page < 10000; ++page) {
      std::vector<UsageRecordRow> rows;
      absl::Status s = session_.ReadOneStatement("records", [&](pqxx::nontransaction& tx, storage::DbSession& db) {
        rows = QueryUsageRecords(tx, db, "folder1", from, to, after, page_size);
        return absl::OkStatus();
      });
      EXPECT_TRUE(s.ok()) << s;
      for (const UsageRecordRow& r : rows) {
        const UsageLine& l = r.line;
        out.push_back({r.hour_start_unix,
                       {l.instance_id, l.sku_id, l.model_id, l.configuration, l.currency_code, l.seconds,
                        Text(l.cost_numerator)}});
      }
      if (!s.ok() || static_cast<int64_t>(rows.size()) < page_size) break;
      after = UsageRecordCursor{rows.back().hour_start_unix, rows.back().line.instance_id, rows.back().line.sku_id};
    }
    return out;
  }

  std::vector<Record> DirectRecords(int64_t from, int64_t to) {
    std::vector<Record> out;
    absl::Status s = session_.ReadOneStatement("direct records", [&](pqxx::nontransaction& tx, storage::DbSession&) {
      out.clear();
      for (const auto& r : tx.exec_params(kDirectRecords, "folder1", from, to)) {
        std::string numerator = r[7].as<std::string>();
        numerator = numerator.substr(0, numerator.find('.'));
        out.push_back({r[0].as<int64_t>(),
                       {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(), r[4].as<std::string>(),
                        r[5].as<std::string>(), r[6].as<int64_t>(), numerator}});
      }
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  std::vector<Line> Direct(const std::string& folder, int64_t from, int64_t to) {
    std::vector<Line> out;
    absl::Status s = session_.ReadOneStatement("direct usage", [&](pqxx::nontransaction& tx, storage::DbSession&) {
      out.clear();
      for (const auto& r : tx.exec_params(kDirectUsage, folder, from, to)) {
        std::string numerator = r[6].as<std::string>();
        numerator = numerator.substr(0, numerator.find('.'));  // numeric sums of integers: no fraction
        out.emplace_back(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                         r[4].as<std::string>(), r[5].as<int64_t>(), numerator);
      }
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
};

TEST_P(BillingRollupTest, UsageFromTheRollupEqualsTheDirectComputation) {
  std::mt19937_64 rng(static_cast<uint64_t>(GetParam()));
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo));
  };
  const int64_t now = absl::ToUnixSeconds(clock_.Now());
  const int64_t begin = now - 20 * 86400;
  auto price = [&](const char* sku) {  // a price change at a random second, in RUB nanos per hour
    Exec("INSERT INTO sku_prices VALUES ('" + std::string(sku) + "', to_timestamp(" +
         std::to_string(uniform(begin, now + 3600)) + "), 'RUB', " +
         std::to_string(uniform(1, 5000) * 1000000000LL + uniform(0, 999)) + ") ON CONFLICT DO NOTHING");
  };
  for (int i = 0; i < 3; ++i) price(i % 2 == 0 ? kSkuS : kSkuM);  // before any interval exists

  // Instances in folder1 (measured) and folder2 (must never leak in); per replica, intervals with random
  // gaps and lengths from a second to three days; the last one of some replicas still open.
  std::string sql;
  for (int i = 0; i < 8; ++i) {
    const std::string folder = i < 6 ? "folder1" : "folder2";
    const bool small = i % 2 == 0;
    const std::string id = "ri" + std::to_string(i);
    sql += "INSERT INTO instances (id, folder_id, name, model_id, configuration, replica_count, status) VALUES ('" +
           id + "', '" + folder + "', '" + id + "', 'gemma-3-4b-it', '" + (small ? "S" : "M") + "', 2, 'ACTIVE');";
    for (int r = 0; r < 2; ++r) {
      int64_t t = begin + uniform(0, 86400);
      for (int k = 0; k < 12 && t < now; ++k) {
        const int64_t length = uniform(0, 3) == 0 ? uniform(1, 600) : uniform(600, 3 * 86400);
        const bool open = t + length >= now;
        sql +=
            "INSERT INTO billable_intervals (folder_id, instance_id, replica_id, node_id, sku_id, configuration, "
            "started_at, ended_at) VALUES ('" +
            folder + "', '" + id + "', '" + id + "-r" + std::to_string(r) + "', 'n', '" + (small ? kSkuS : kSkuM) +
            "', '" + (small ? "S" : "M") + "', to_timestamp(" + std::to_string(t) + "), " +
            (open ? "NULL" : "to_timestamp(" + std::to_string(t + length) + ")") + ");";
        t += length + uniform(0, 2 * 86400);
        if (open) break;
      }
    }
  }
  Exec(sql);
  // What the billing hook and node death do to existing rows: trims (also of closed intervals, as
  // EndBillingAtLastHeartbeat does), closes of open intervals, and deletes; then prices for the past.
  Exec(
      "UPDATE billable_intervals SET ended_at = to_timestamp(extract(epoch FROM started_at)::bigint + "
      "extract(epoch FROM ended_at - started_at)::bigint / 3) WHERE ended_at IS NOT NULL AND id % 5 = 0");
  Exec("UPDATE billable_intervals SET ended_at = greatest(started_at, to_timestamp(" +
       std::to_string(now - 3 * 3600 - 17) + ")) WHERE ended_at IS NULL AND id % 2 = 0");
  Exec("DELETE FROM billable_intervals WHERE ended_at IS NOT NULL AND id % 7 = 0");
  for (int i = 0; i < 3; ++i) price(i % 2 == 0 ? kSkuM : kSkuS);  // after: the rollup is rebuilt

  EXPECT_EQ(Scalar(kRollupMismatches), 0) << "the maintained rollup differs from one rebuilt from scratch";
  ASSERT_GT(Scalar("SELECT count(*) FROM billable_intervals WHERE ended_at IS NULL"), 0);
  ASSERT_GT(Scalar("SELECT count(*) FROM billable_seconds_rollup WHERE bucket_seconds = 604800"), 0);

  int compared_lines = 0;
  for (int w = 0; w < 60; ++w) {
    int64_t from = uniform(begin - 86400, now + 3600);
    int64_t to = from + (w % 3 == 0 ? uniform(1, 7200) : uniform(1, 25 * 86400));
    if (w % 4 == 0) from = from / 3600 * 3600;  // hour and day boundaries, as the bench's windows
    if (w % 8 == 0) to = to / 86400 * 86400 + 86400;
    const std::vector<Line> want = Direct("folder1", from, to);
    EXPECT_EQ(ViaRollup("folder1", from, to), want) << "window [" << from << ", " << to << ")";
    compared_lines += static_cast<int>(want.size());
  }
  EXPECT_GT(compared_lines, 60) << "the windows must mostly hit billed time";

  // ListUsageRecords: the pages, concatenated, are the direct computation's rows, for short windows with
  // random edges and random page sizes (a page may end inside an hour).
  int compared_records = 0;
  for (int w = 0; w < 12; ++w) {
    const int64_t from = uniform(begin, now);
    const int64_t to = from + uniform(1, 3 * 86400);
    const std::vector<Record> want = DirectRecords(from, to);
    EXPECT_EQ(RecordsViaRollup(from, to, uniform(1, 40)), want) << "window [" << from << ", " << to << ")";
    compared_records += static_cast<int>(want.size());
  }
  EXPECT_GT(compared_records, 100);
  const std::vector<Line> all = ViaRollup("folder1", begin - 86400, now + 86400);
  ASSERT_FALSE(all.empty());
  for (const Line& l : all) {
    EXPECT_TRUE(std::get<0>(l) != "ri6" && std::get<0>(l) != "ri7") << "folder2's instance leaked";
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, BillingRollupTest, ::testing::Range(1, 6));

TEST_F(BillingRollupTest, ATakeBackOfSecondsNeverRolledUpFailsLoudly) {
  // The rollup never goes negative silently: subtracting an interval it does not hold violates its CHECK.
  Exec(
      "INSERT INTO instances (id, folder_id, name, model_id, configuration, replica_count, status) VALUES "
      "('x', 'folder1', 'x', 'gemma-3-4b-it', 'S', 1, 'ACTIVE')");
  pqxx::connection conn(db_.dsn());
  pqxx::work tx(conn);
  EXPECT_THROW(tx.exec("SELECT billable_rollup_apply('folder1', 'x', 'dedicated.gemma-3-4b-it.s', "
                       "'2026-01-01 00:00:00+00', '2026-01-01 00:10:00+00', -1)"),
               pqxx::check_violation);
}

}  // namespace
}  // namespace dedicated::controlplane
