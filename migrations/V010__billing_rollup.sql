-- Billing rollup (issue 5, performance): GetUsage over a month must not read every interval of the month.
--
-- billable_seconds_hourly and billable_seconds_daily hold, for CLOSED billable intervals only, the billable
-- seconds per folder x UTC hour (or day) x instance x SKU x price span (sku_prices.effective_from of the
-- price in force). Seconds, not money: the cost is priced at read time from sku_prices, and keying by the
-- price span keeps a price change in the middle of an hour or a day exact. Open intervals are never rolled
-- up (their end is "now"), so usage = rollup for the whole hours and days inside the window + the raw
-- intervals for the partial hours at its edges and for the open intervals (billing_store.cc QueryUsage).
--
-- Both tables are a pure function of (closed billable_intervals, sku_prices), kept so by triggers in the
-- transaction that writes either: whatever statement closes, trims or inserts an interval (the billing
-- hook, node death, a repair) updates the rollup with it, and a price row inserted for the past rebuilds
-- the SKU's rollup from that day on. A crash can leave neither half-done.

-- Prices change on whole seconds, like interval bounds: pieces then add up to whole seconds exactly.
ALTER TABLE sku_prices ADD CONSTRAINT sku_prices_whole_seconds
  CHECK (extract(microseconds FROM effective_from)::bigint % 1000000 = 0);

CREATE TABLE billable_seconds_hourly (
  folder_id   text NOT NULL,
  hour        timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour, 'UTC')),
  instance_id text NOT NULL,
  sku_id      text NOT NULL,
  price_from  timestamptz NOT NULL,
  seconds     bigint NOT NULL CHECK (seconds >= 0),
  -- seconds included: GetUsage reads the rollup with index-only scans.
  PRIMARY KEY (folder_id, hour, instance_id, sku_id, price_from) INCLUDE (seconds)
);
CREATE TABLE billable_seconds_daily (
  folder_id   text NOT NULL,
  day         timestamptz NOT NULL CHECK (day = date_trunc('day', day, 'UTC')),
  instance_id text NOT NULL,
  sku_id      text NOT NULL,
  price_from  timestamptz NOT NULL,
  seconds     bigint NOT NULL CHECK (seconds >= 0),
  PRIMARY KEY (folder_id, day, instance_id, sku_id, price_from) INCLUDE (seconds)
);
-- A price change rebuilds one SKU from a day on.
CREATE INDEX billable_seconds_hourly_by_sku ON billable_seconds_hourly (sku_id, hour);
CREATE INDEX billable_seconds_daily_by_sku ON billable_seconds_daily (sku_id, day);

-- The edges of a usage window are under an hour long: find a folder's intervals overlapping them without
-- reading every interval that ends after the window starts.
CREATE INDEX billable_intervals_by_folder_span ON billable_intervals
  USING gist (folder_id, tstzrange(started_at, ended_at, '[)'));

-- [s, e) of SKU `sku` cut at its price changes and at UTC hours: (hour, price span, seconds).
CREATE FUNCTION billable_hour_pieces(sku text, s timestamptz, e timestamptz)
RETURNS TABLE (hour timestamptz, price_from timestamptz, seconds bigint) LANGUAGE sql STABLE AS $$
  SELECT h, pr.pf,
         extract(epoch FROM least(e, pr.pt, h + interval '1 hour') - greatest(s, pr.pf, h))::bigint
  FROM (SELECT effective_from AS pf,
               coalesce(lead(effective_from) OVER (ORDER BY effective_from), 'infinity'::timestamptz) AS pt
        FROM sku_prices WHERE sku_id = sku) pr
       CROSS JOIN LATERAL generate_series(date_trunc('hour', greatest(s, pr.pf), 'UTC'),
                                          least(e, pr.pt) - interval '1 second', interval '1 hour') AS h
  WHERE pr.pf < e AND pr.pt > s
$$;

-- Adds (sign 1) or takes back (sign -1) the closed interval [s, e) of one instance and SKU. Rows that
-- reach zero go; a take-back of seconds never added fails the CHECK rather than billing negative time.
CREATE FUNCTION billable_rollup_apply(folder text, instance text, sku text, s timestamptz, e timestamptz,
                                      sign integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF e IS NULL OR e <= s THEN
    RETURN;
  END IF;
  -- Shared with other closers, exclusive with a price change (billable_rollup_reprice): the pieces below
  -- are cut at the prices that are committed when this runs.
  PERFORM pg_advisory_xact_lock_shared(hashtext('billable_rollup_prices'));
  INSERT INTO billable_seconds_hourly AS t (folder_id, hour, instance_id, sku_id, price_from, seconds)
  SELECT folder, p.hour, instance, sku, p.price_from, sign * sum(p.seconds)
  FROM billable_hour_pieces(sku, s, e) p GROUP BY p.hour, p.price_from ORDER BY p.hour, p.price_from
  ON CONFLICT (folder_id, hour, instance_id, sku_id, price_from) DO UPDATE SET seconds = t.seconds + excluded.seconds;
  INSERT INTO billable_seconds_daily AS t (folder_id, day, instance_id, sku_id, price_from, seconds)
  SELECT folder, date_trunc('day', p.hour, 'UTC'), instance, sku, p.price_from, sign * sum(p.seconds)
  FROM billable_hour_pieces(sku, s, e) p GROUP BY 2, p.price_from ORDER BY 2, p.price_from
  ON CONFLICT (folder_id, day, instance_id, sku_id, price_from) DO UPDATE SET seconds = t.seconds + excluded.seconds;
  IF sign < 0 THEN
    DELETE FROM billable_seconds_hourly
    WHERE folder_id = folder AND instance_id = instance AND sku_id = sku AND seconds = 0
      AND hour >= date_trunc('hour', s, 'UTC') AND hour < e;
    DELETE FROM billable_seconds_daily
    WHERE folder_id = folder AND instance_id = instance AND sku_id = sku AND seconds = 0
      AND day >= date_trunc('day', s, 'UTC') AND day < e;
  END IF;
END
$$;

CREATE FUNCTION billable_intervals_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.ended_at IS NOT NULL THEN
    PERFORM billable_rollup_apply(OLD.folder_id, OLD.instance_id, OLD.sku_id, OLD.started_at, OLD.ended_at, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.ended_at IS NOT NULL THEN
    PERFORM billable_rollup_apply(NEW.folder_id, NEW.instance_id, NEW.sku_id, NEW.started_at, NEW.ended_at, 1);
  END IF;
  RETURN NULL;
END
$$;
-- Opening an interval (ended_at NULL) touches nothing; closing, trimming or deleting a closed one does.
CREATE TRIGGER billable_intervals_rollup_insert AFTER INSERT ON billable_intervals
  FOR EACH ROW WHEN (NEW.ended_at IS NOT NULL) EXECUTE FUNCTION billable_intervals_rollup();
CREATE TRIGGER billable_intervals_rollup_update AFTER UPDATE ON billable_intervals
  FOR EACH ROW WHEN (OLD.ended_at IS DISTINCT FROM NEW.ended_at OR OLD.started_at IS DISTINCT FROM NEW.started_at
                     OR OLD.folder_id IS DISTINCT FROM NEW.folder_id OR OLD.instance_id IS DISTINCT FROM NEW.instance_id
                     OR OLD.sku_id IS DISTINCT FROM NEW.sku_id)
  EXECUTE FUNCTION billable_intervals_rollup();
CREATE TRIGGER billable_intervals_rollup_delete AFTER DELETE ON billable_intervals
  FOR EACH ROW WHEN (OLD.ended_at IS NOT NULL) EXECUTE FUNCTION billable_intervals_rollup();

-- Recomputes SKU `sku`'s rollup from the UTC day of `changed_from` on, from the raw closed intervals.
CREATE FUNCTION billable_rollup_rebuild(sku text, changed_from timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  from_day timestamptz := date_trunc('day', changed_from, 'UTC');
BEGIN
  DELETE FROM billable_seconds_hourly WHERE sku_id = sku AND hour >= from_day;
  DELETE FROM billable_seconds_daily WHERE sku_id = sku AND day >= from_day;
  INSERT INTO billable_seconds_hourly (folder_id, hour, instance_id, sku_id, price_from, seconds)
  SELECT b.folder_id, p.hour, b.instance_id, sku, p.price_from, sum(p.seconds)
  FROM billable_intervals b
       CROSS JOIN LATERAL billable_hour_pieces(sku, greatest(b.started_at, from_day), b.ended_at) p
  WHERE b.sku_id = sku AND b.ended_at IS NOT NULL AND coalesce(b.ended_at, 'infinity'::timestamptz) > from_day
  GROUP BY b.folder_id, p.hour, b.instance_id, p.price_from;
  INSERT INTO billable_seconds_daily (folder_id, day, instance_id, sku_id, price_from, seconds)
  SELECT folder_id, date_trunc('day', hour, 'UTC'), instance_id, sku_id, price_from, sum(seconds)
  FROM billable_seconds_hourly WHERE sku_id = sku AND hour >= from_day
  GROUP BY folder_id, 2, instance_id, sku_id, price_from;
END
$$;

CREATE FUNCTION billable_rollup_reprice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Waits for transactions that are closing intervals at the old prices, and holds new ones off until
  -- this commits (billable_rollup_apply).
  PERFORM pg_advisory_xact_lock(hashtext('billable_rollup_prices'));
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM billable_rollup_rebuild(OLD.sku_id, OLD.effective_from);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM billable_rollup_rebuild(NEW.sku_id, NEW.effective_from);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER sku_prices_rollup AFTER INSERT OR UPDATE OR DELETE ON sku_prices
  FOR EACH ROW EXECUTE FUNCTION billable_rollup_reprice();

-- Backfill: the closed intervals billed before this migration.
INSERT INTO billable_seconds_hourly (folder_id, hour, instance_id, sku_id, price_from, seconds)
SELECT b.folder_id, p.hour, b.instance_id, b.sku_id, p.price_from, sum(p.seconds)
FROM billable_intervals b CROSS JOIN LATERAL billable_hour_pieces(b.sku_id, b.started_at, b.ended_at) p
WHERE b.ended_at IS NOT NULL
GROUP BY b.folder_id, p.hour, b.instance_id, b.sku_id, p.price_from;
INSERT INTO billable_seconds_daily (folder_id, day, instance_id, sku_id, price_from, seconds)
SELECT folder_id, date_trunc('day', hour, 'UTC'), instance_id, sku_id, price_from, sum(seconds)
FROM billable_seconds_hourly
GROUP BY folder_id, 2, instance_id, sku_id, price_from;
