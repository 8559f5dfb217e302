-- Lifecycle (docs/lifecycle.md): `readings` partitioned by UTC day of event_ts, so that
-- retention drops whole partitions; `rejected.replayed_at` for the registry's replay.
--
-- Converts an existing unpartitioned `readings` without losing a row: the old table is
-- renamed, a partition is created for every day it holds (plus the days around today), its
-- rows are copied across, the counts are compared, and only then is the old table dropped.
-- Runs inside the migrator's transaction, under its advisory lock.

ALTER TABLE rejected ADD COLUMN IF NOT EXISTS replayed_at timestamptz;
-- Replay looks for rows not yet replayed, oldest first.
CREATE INDEX IF NOT EXISTS rejected_not_replayed ON rejected (at, id) WHERE replayed_at IS NULL;

ALTER TABLE readings RENAME TO readings_unpartitioned;
ALTER INDEX readings_pkey RENAME TO readings_unpartitioned_pkey;
ALTER INDEX readings_device_event RENAME TO readings_unpartitioned_device_event;

-- reading_id is derived from (device, event time, seq), so two rows with one reading_id have
-- one event_ts: unique (reading_id, event_ts) keeps reading_id unique. A partitioned table's
-- unique keys must hold the partition key.
CREATE TABLE readings (
  reading_id   text NOT NULL,
  device_id    text NOT NULL DEFAULT '',
  event_ts     timestamptz NOT NULL DEFAULT now(),
  received_at  timestamptz,
  ingested_at  timestamptz NOT NULL DEFAULT now(),
  metrics      jsonb NOT NULL DEFAULT '{}',
  seq          bigint,
  location     jsonb,
  message_id   text,
  PRIMARY KEY (reading_id, event_ts)
) PARTITION BY RANGE (event_ts);
CREATE INDEX readings_device_event ON readings (device_id, event_ts DESC);

-- A reading for a day that has no partition yet (maintain creates them ahead) lands here and is
-- never refused; `npm run maintain` moves such rows into their day's partition.
CREATE TABLE readings_default PARTITION OF readings DEFAULT;

-- Creates the partition of one UTC day if it does not exist, moving that day's rows out of
-- the default partition first. Attaching (rather than CREATE TABLE ... PARTITION OF) takes
-- only SHARE UPDATE EXCLUSIVE on `readings`, so ingest keeps writing; the default partition
-- is locked while its rows for that day move. Serialised by an advisory lock.
CREATE OR REPLACE FUNCTION readings_create_day_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  part text := 'readings_p' || to_char(day, 'YYYYMMDD');
  lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
  hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
  PERFORM pg_advisory_xact_lock(7204118015);
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE readings INCLUDING DEFAULTS, CONSTRAINT %I CHECK (event_ts >= %L AND event_ts < %L))',
                 part, part || '_range', lo, hi);
  IF EXISTS (SELECT 1 FROM readings_default WHERE event_ts >= lo AND event_ts < hi) THEN
    LOCK TABLE readings_default IN SHARE ROW EXCLUSIVE MODE;
    EXECUTE format('WITH moved AS (DELETE FROM readings_default WHERE event_ts >= %L AND event_ts < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                   lo, hi, part);
  END IF;
  EXECUTE format('ALTER TABLE readings ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
  RETURN true;
END
$fn$;

DO $convert$
DECLARE
  day date;
  copied bigint;
  expected bigint;
BEGIN
  FOR day IN
    SELECT DISTINCT (event_ts AT TIME ZONE 'UTC')::date FROM readings_unpartitioned
    UNION
    SELECT generate_series((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7, interval '1 day')::date
  LOOP
    PERFORM readings_create_day_partition(day);
  END LOOP;
  INSERT INTO readings SELECT reading_id, device_id, event_ts, received_at, ingested_at, metrics, seq, location, message_id
    FROM readings_unpartitioned;
  GET DIAGNOSTICS copied = ROW_COUNT;
  SELECT count(*) INTO expected FROM readings_unpartitioned;
  IF copied <> expected THEN
    RAISE EXCEPTION 'readings conversion copied % of % rows', copied, expected;
  END IF;
END
$convert$;

DROP TABLE readings_unpartitioned;
