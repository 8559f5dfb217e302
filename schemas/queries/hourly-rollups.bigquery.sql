-- Hourly rollups of numeric metrics per site and metric over the last 7 days.
SELECT
  COALESCE(site, '(none)') AS site,
  metric,
  TIMESTAMP_TRUNC(event_ts, HOUR) AS hour,
  COUNT(*) AS samples,
  COUNT(DISTINCT device_id) AS devices,
  AVG(value) AS avg_value,
  MIN(value) AS min_value,
  MAX(value) AS max_value
FROM `{{project}}.{{dataset}}.measurements_dedup`
WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)
  AND value IS NOT NULL
GROUP BY site, metric, hour
ORDER BY site, metric, hour;
