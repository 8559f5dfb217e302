-- Devices that sent nothing for more than @silent_minutes minutes (a query parameter:
-- bq query --use_legacy_sql=false --parameter=silent_minutes:INT64:15 < silent-devices.bigquery.sql),
-- among those heard from in the last 30 days.
SELECT
  device_id,
  ANY_VALUE(site) AS site,
  MAX(event_ts) AS last_event_ts,
  TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), MAX(event_ts), MINUTE) AS silent_minutes
FROM `{{project}}.{{dataset}}.measurements_dedup`
WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
GROUP BY device_id
HAVING MAX(event_ts) < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @silent_minutes MINUTE)
ORDER BY last_event_ts;
