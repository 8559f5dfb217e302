-- The local twin of dedupe-view.bigquery.sql, so analyst SQL runs unchanged on both
-- warehouses. The DuckDB table's primary key already keeps one row per (reading_id, metric);
-- the view holds for a copy without it (an import, a table filled by other tools).
CREATE OR REPLACE VIEW measurements_dedup AS
SELECT * EXCLUDE (dedup_rank)
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY reading_id, metric, event_ts
      ORDER BY ingested_at, message_id
    ) AS dedup_rank
  FROM measurements
)
WHERE dedup_rank = 1
