-- The latest value of every metric of every device (one row per device and metric).
-- Reads the dedupe view ({{project}}, {{dataset}} as in dedupe-view.bigquery.sql); 30 days of partitions.
SELECT
  device_id,
  metric,
  event_ts,
  value,
  value_text,
  value_bool,
  unit,
  site
FROM `{{project}}.{{dataset}}.measurements_dedup`
WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
QUALIFY ROW_NUMBER() OVER (PARTITION BY device_id, metric ORDER BY event_ts DESC, ingested_at DESC) = 1
ORDER BY device_id, metric;
