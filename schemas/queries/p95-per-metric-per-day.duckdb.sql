-- The 95th percentile of each numeric metric per day, last 30 days.
SELECT
  CAST(event_ts AS DATE) AS day,
  metric,
  count(*) AS samples,
  quantile_cont(value, 0.95) AS p95
FROM measurements
WHERE event_ts >= now() - INTERVAL 30 DAY
  AND value IS NOT NULL
GROUP BY ALL
ORDER BY day, metric;
