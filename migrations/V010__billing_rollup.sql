-- Billing rollup (issue 5, performance): GetUsage over a month must not read every interval of the month.
--
-- billable_seconds_rollup holds, for CLOSED billable intervals only, the billable seconds per folder x
-- bucket x instance x SKU x price span (sku_prices.effective_from of the price in force), for buckets of
-- an hour, 6 hours, a UTC day and 7 days (aligned to the epoch; billable_rollup_bucket_seconds()). Seconds,
-- not money: the cost is priced at read time from sku_prices, and keying by the price span keeps a price
-- change in the middle of a bucket exact. Open intervals are never rolled up (their end is "now"). A
-- usage window is read as a few buckets (services/controlplane/usage_window.h: at most ~20 rows per
-- instance for 30 days) + raw intervals for the partial hours at its edges and for the open intervals
-- (billing_store.cc QueryUsage).
--
-- The rollup is a pure function of (closed billable_intervals, sku_prices), kept so by triggers in the
-- transaction that writes either: whatever statement closes, trims, inserts or deletes an interval (the
-- billing hook, node death) updates the rollup with it, and a price row for the past rebuilds the SKU's
-- rollup from that week on. A crash can leave neither half-done.

-- Prices change on whole seconds, like interval bounds: pieces then add up to whole seconds exactly.
ALTER TABLE sku_prices ADD CONSTRAINT sku_prices_whole_seconds
  CHECK (extract(microseconds FROM effective_from)::bigint % 1000000 = 0);

-- The bucket sizes, in seconds; services/controlplane/usage_window.h kRollupBucketSeconds must match.
CREATE FUNCTION billable_rollup_bucket_seconds() RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY[3600, 21600, 86400, 604800]
$$;

CREATE TABLE billable_seconds_rollup (
  folder_id      text NOT NULL,
  bucket_seconds integer NOT NULL CHECK (bucket_seconds = ANY (billable_rollup_bucket_seconds())),
  bucket_start   timestamptz NOT NULL CHECK (extract(epoch FROM bucket_start)::bigint % bucket_seconds = 0),
  instance_id    text NOT NULL,
  sku_id         text NOT NULL,
  price_from     timestamptz NOT NULL,
  seconds        bigint NOT NULL CHECK (seconds >= 0),
  -- seconds included: GetUsage reads the rollup with index-only scans.
  PRIMARY KEY (folder_id, bucket_seconds, bucket_start, instance_id, sku_id, price_from) INCLUDE (seconds)
);
-- A price change rebuilds one SKU from a week on.
CREATE INDEX billable_seconds_rollup_by_sku ON billable_seconds_rollup (sku_id, bucket_start);

-- The edges of a usage window are under an hour long: find a folder's intervals overlapping them without
-- reading every interval that ends after the window starts.
CREATE INDEX billable_intervals_by_folder_span ON billable_intervals
  USING gist (folder_id, tstzrange(started_at, ended_at, '[)'));

-- The open intervals of a folder (read raw over the whole window), index-only.
CREATE INDEX billable_intervals_open_by_folder ON billable_intervals (folder_id)
  INCLUDE (instance_id, sku_id, started_at) WHERE ended_at IS NULL;

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

-- Adds (sign 1) or takes back (sign -1) the closed interval [s, e) of one instance and SKU, in every bucket
-- size. Rows that reach zero go. A take-back of seconds that were never added fails (check_violation)
-- rather than leaving negative time. (It is an UPDATE, not an upsert of negative seconds: PostgreSQL
-- checks the proposed row of an INSERT ... ON CONFLICT against the CHECK before finding the conflict.)
CREATE FUNCTION billable_rollup_apply(folder text, instance text, sku text, s timestamptz, e timestamptz,
                                      sign integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  wanted bigint;
  updated bigint;
BEGIN
  IF e IS NULL OR e <= s THEN
    RETURN;
  END IF;
  -- Shared with other closers, exclusive with a price change (billable_rollup_reprice): the pieces below
  -- are cut at the prices committed when this runs.
  PERFORM pg_advisory_xact_lock_shared(hashtext('billable_rollup_prices'));
  IF sign > 0 THEN
    INSERT INTO billable_seconds_rollup AS t
      (folder_id, bucket_seconds, bucket_start, instance_id, sku_id, price_from, seconds)
    SELECT folder, b.size, to_timestamp(floor(extract(epoch FROM p.hour) / b.size) * b.size), instance, sku,
           p.price_from, sum(p.seconds)
    FROM billable_hour_pieces(sku, s, e) p CROSS JOIN unnest(billable_rollup_bucket_seconds()) AS b (size)
    GROUP BY 2, 3, 6 ORDER BY 2, 3, 6
    ON CONFLICT (folder_id, bucket_seconds, bucket_start, instance_id, sku_id, price_from)
    DO UPDATE SET seconds = t.seconds + excluded.seconds;
    RETURN;
  END IF;
  WITH d AS (
    SELECT b.size, to_timestamp(floor(extract(epoch FROM p.hour) / b.size) * b.size) AS bucket,
           p.price_from, sum(p.seconds) AS secs
    FROM billable_hour_pieces(sku, s, e) p CROSS JOIN unnest(billable_rollup_bucket_seconds()) AS b (size)
    GROUP BY 1, 2, 3),
  u AS (
    UPDATE billable_seconds_rollup t SET seconds = t.seconds - d.secs
    FROM d
    WHERE t.folder_id = folder AND t.bucket_seconds = d.size AND t.bucket_start = d.bucket
      AND t.instance_id = instance AND t.sku_id = sku AND t.price_from = d.price_from
    RETURNING 1)
  SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM u) INTO wanted, updated;
  IF updated <> wanted THEN
    RAISE EXCEPTION 'billing rollup: taking back [%, %) of instance % (SKU %), which was never rolled up', s, e,
      instance, sku USING ERRCODE = 'check_violation';
  END IF;
  DELETE FROM billable_seconds_rollup
  WHERE sku_id = sku AND bucket_start >= s - interval '7 days' AND bucket_start < e
    AND folder_id = folder AND instance_id = instance AND seconds = 0;
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

-- Recomputes SKU `sku`'s rollup from the start of the largest bucket holding `changed_from` on, from the
-- raw closed intervals.
CREATE FUNCTION billable_rollup_rebuild(sku text, changed_from timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  largest integer := (SELECT max(x) FROM unnest(billable_rollup_bucket_seconds()) AS x);
  from_bucket timestamptz := to_timestamp(floor(extract(epoch FROM changed_from) / largest) * largest);
BEGIN
  DELETE FROM billable_seconds_rollup WHERE sku_id = sku AND bucket_start >= from_bucket;
  INSERT INTO billable_seconds_rollup (folder_id, bucket_seconds, bucket_start, instance_id, sku_id, price_from, seconds)
  SELECT b.folder_id, z.size, to_timestamp(floor(extract(epoch FROM p.hour) / z.size) * z.size), b.instance_id, sku,
         p.price_from, sum(p.seconds)
  FROM billable_intervals b
       CROSS JOIN LATERAL billable_hour_pieces(sku, greatest(b.started_at, from_bucket), b.ended_at) p
       CROSS JOIN unnest(billable_rollup_bucket_seconds()) AS z (size)
  WHERE b.sku_id = sku AND b.ended_at IS NOT NULL AND b.ended_at > from_bucket
  GROUP BY b.folder_id, 2, 3, b.instance_id, p.price_from;
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
INSERT INTO billable_seconds_rollup (folder_id, bucket_seconds, bucket_start, instance_id, sku_id, price_from, seconds)
SELECT b.folder_id, z.size, to_timestamp(floor(extract(epoch FROM p.hour) / z.size) * z.size), b.instance_id,
       b.sku_id, p.price_from, sum(p.seconds)
FROM billable_intervals b
     CROSS JOIN LATERAL billable_hour_pieces(b.sku_id, b.started_at, b.ended_at) p
     CROSS JOIN unnest(billable_rollup_bucket_seconds()) AS z (size)
WHERE b.ended_at IS NOT NULL
GROUP BY b.folder_id, 2, 3, b.instance_id, b.sku_id, p.price_from;
