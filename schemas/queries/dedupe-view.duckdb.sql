-- The local twin of dedupe-view.bigquery.sql, so analyst SQL runs unchanged on both
-- warehouses. The DuckDB table's primary key already keeps one row per (reading_id, metric);
-- the view holds for a copy without it (an import, a table filled by other tools), and keeps
-- the first message's rows of a reading identity, as the BigQuery view does.
CREATE OR REPLACE VIEW measurements_dedup AS
SELECT * EXCLUDE (dedup_rank, first_message_id)
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY reading_id, metric, event_ts
      ORDER BY ingested_at, message_id
    ) AS dedup_rank,
    FIRST_VALUE(message_id) OVER (
      PARTITION BY reading_id, event_ts
      ORDER BY ingested_at, message_id
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) AS first_message_id
  FROM measurements
)
WHERE dedup_rank = 1
  AND first_message_id IS NOT DISTINCT FROM message_id
