-- The 95th percentile (approximate, 1 % buckets) of each numeric metric per day, last 30 days.
SELECT
  DATE(event_ts) AS day,
  metric,
  COUNT(*) AS samples,
  APPROX_QUANTILES(value, 100)[OFFSET(95)] AS p95
FROM `{{project}}.{{dataset}}.measurements_dedup`
WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
  AND value IS NOT NULL
GROUP BY day, metric
ORDER BY day, metric;
