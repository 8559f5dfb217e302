-- The latest value of every metric of every device (one row per device and metric).
SELECT
  device_id,
  metric,
  event_ts,
  value,
  value_text,
  value_bool,
  unit,
  site
FROM measurements
WHERE event_ts >= now() - INTERVAL 30 DAY
QUALIFY row_number() OVER (PARTITION BY device_id, metric ORDER BY event_ts DESC, ingested_at DESC) = 1
ORDER BY device_id, metric;
