-- measurements without the duplicates BigQuery may still hold: insertId dedupe is best effort
-- (a retry can land a row twice). One row per (reading_id, metric), the first ingested; and
-- of a reading identity sent twice with other metrics, only the rows of the first message that
-- carried it (as PostgreSQL keeps that one): a redelivery shares its message_id, so a write
-- finished by a redelivery still counts whole.
--
-- event_ts sits in the window's PARTITION BY although reading_id already fixes it: BigQuery
-- pushes a filter through a window function only on partitioning columns, and the table
-- requires a filter on event_ts, so without it every query on this view would be refused.
--
-- Placeholders: {{project}}, {{dataset}} (rendered by shared/warehouse/views.ts).
-- See https://cloud.google.com/bigquery/docs/streaming-data-into-bigquery#manually_removing_duplicates
CREATE OR REPLACE VIEW `{{project}}.{{dataset}}.measurements_dedup` AS
SELECT * EXCEPT (dedup_rank, first_message_id)
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
  FROM `{{project}}.{{dataset}}.measurements`
)
WHERE dedup_rank = 1
  AND first_message_id IS NOT DISTINCT FROM message_id
