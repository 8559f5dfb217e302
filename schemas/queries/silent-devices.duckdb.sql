-- Devices that sent nothing for more than N minutes (SET VARIABLE silent_minutes = N; 15 when
-- unset), among those heard from in the last 30 days.
SELECT
  device_id,
  any_value(site) AS site,
  max(event_ts) AS last_event_ts,
  date_diff('minute', max(event_ts), now()) AS silent_minutes
FROM measurements
WHERE event_ts >= now() - INTERVAL 30 DAY
GROUP BY device_id
HAVING max(event_ts) < now() - to_minutes(COALESCE(getvariable('silent_minutes'), 15)::BIGINT)
ORDER BY last_event_ts;
