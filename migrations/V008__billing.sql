-- Billing (issue 5): uptime-only, per-second metering.
--
-- billable_intervals holds, per replica, the spans during which it was billable: its instance ACTIVE and
-- the replica serving (READY, meant to run, its node not DOWN). They are opened and closed by the hook of
-- every state transition (services/controlplane/billing_store.cc), in the transaction that makes the
-- transition, so a crash can neither lose a second nor count one twice. Prices live in sku_prices; a price
-- change is a new row, and usage is priced piecewise at the change.

-- The time of "now" for transitions, intervals and node liveness. A controlplane with an injected clock
-- (tests: FakeClock) pins it per transaction with set_config('di.now', ...); otherwise it is the database's
-- transaction time, one clock for every controlplane replica.
CREATE FUNCTION di_now() RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('di.now', true), '')::timestamptz, now())
$$;
ALTER TABLE state_transitions ALTER COLUMN at SET DEFAULT di_now();

-- One SKU per model x configuration, from the catalog (seeded idempotently at controlplane start).
CREATE TABLE skus (
  id            text PRIMARY KEY CHECK (id <> ''),
  model_id      text NOT NULL CHECK (model_id <> ''),
  configuration text NOT NULL CHECK (configuration IN ('S', 'M', 'L')),
  UNIQUE (model_id, configuration)
);

-- Hourly price per replica, exact: billionths of the currency unit (google.type.Money's nanos scale), so
-- any catalog price is representable without rounding. A row holds from effective_from until the next row.
CREATE TABLE sku_prices (
  sku_id              text NOT NULL REFERENCES skus (id),
  effective_from      timestamptz NOT NULL,
  currency_code       text NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
  price_per_hour_nanos bigint NOT NULL CHECK (price_per_hour_nanos >= 0),
  PRIMARY KEY (sku_id, effective_from)
);

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- Times are whole seconds (metering is per second; truncation keeps adjacent spans additive). ended_at
-- NULL: still billing. folder_id, node_id and sku_id are copied at open time: instances move nothing,
-- replicas rows are deleted, and usage must not depend on rows that may be gone.
CREATE TABLE billable_intervals (
  id            bigserial PRIMARY KEY,
  folder_id     text NOT NULL,
  instance_id   text NOT NULL REFERENCES instances (id),
  replica_id    text NOT NULL,
  node_id       text NOT NULL,
  sku_id        text NOT NULL REFERENCES skus (id),
  configuration text NOT NULL CHECK (configuration IN ('S', 'M', 'L')),
  started_at    timestamptz NOT NULL CHECK (extract(microseconds FROM started_at)::bigint % 1000000 = 0),
  ended_at      timestamptz CHECK (ended_at >= started_at AND extract(microseconds FROM ended_at)::bigint % 1000000 = 0),
  -- A replica is never billed twice for the same second: its spans cannot overlap.
  CONSTRAINT billable_intervals_no_overlap
    EXCLUDE USING gist (replica_id WITH =, tstzrange(started_at, ended_at, '[)') WITH &&)
);
-- At most one open span per replica (also the conflict target of the hook's INSERT ... ON CONFLICT).
CREATE UNIQUE INDEX billable_intervals_open_per_replica ON billable_intervals (replica_id) WHERE ended_at IS NULL;
CREATE INDEX billable_intervals_open_by_instance ON billable_intervals (instance_id) WHERE ended_at IS NULL;
-- Node death trims its spans back to the last heartbeat.
CREATE INDEX billable_intervals_by_node ON billable_intervals (node_id, (coalesce(ended_at, 'infinity'::timestamptz)));
-- Usage queries: a folder's spans that end after the window starts (open ones sort last).
CREATE INDEX billable_intervals_by_folder ON billable_intervals
  (folder_id, (coalesce(ended_at, 'infinity'::timestamptz)))
  INCLUDE (started_at, instance_id, sku_id);
-- The meter (metrics): every span that ends after a watermark.
CREATE INDEX billable_intervals_by_end ON billable_intervals ((coalesce(ended_at, 'infinity'::timestamptz)));
