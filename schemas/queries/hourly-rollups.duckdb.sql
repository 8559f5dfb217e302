-- Hourly rollups of numeric metrics per site and metric over the last 7 days.
SELECT
  COALESCE(site, '(none)') AS site,
  metric,
  date_trunc('hour', event_ts) AS hour,
  count(*) AS samples,
  count(DISTINCT device_id) AS devices,
  avg(value) AS avg_value,
  min(value) AS min_value,
  max(value) AS max_value
FROM measurements
WHERE event_ts >= now() - INTERVAL 7 DAY
  AND value IS NOT NULL
GROUP BY ALL
ORDER BY site, metric, hour;
