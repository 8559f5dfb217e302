-- measurements without the duplicates BigQuery may still hold: insertId dedupe is best effort
-- (a retry can land a row twice). One row per (reading_id, metric), the first ingested.
--
-- event_ts sits in the window's PARTITION BY although reading_id already fixes it: BigQuery
-- pushes a filter through a window function only on partitioning columns, and the table
-- requires a filter on event_ts, so without it every query on this view would be refused.
--
-- Placeholders: {{project}}, {{dataset}} (rendered by shared/warehouse/views.ts).
-- See https://cloud.google.com/bigquery/docs/streaming-data-into-bigquery#manually_removing_duplicates
CREATE OR REPLACE VIEW `{{project}}.{{dataset}}.measurements_dedup` AS
SELECT * EXCEPT (dedup_rank)
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY reading_id, metric, event_ts
      ORDER BY ingested_at, message_id
    ) AS dedup_rank
  FROM `{{project}}.{{dataset}}.measurements`
)
WHERE dedup_rank = 1
