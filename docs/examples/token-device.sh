#!/usr/bin/env bash
# A device with a token, in curl: reads its configuration, posts readings (JSON and SenML)
# and reports its state on the bridge's own paths.
# Environment: BRIDGE_URL, DEVICE_ID, DEVICE_TOKEN. See docs/devices.md.
set -euo pipefail
auth="Authorization: Bearer $DEVICE_TOKEN"
device="$BRIDGE_URL/v1/devices/$DEVICE_ID"

# The configuration (IoT Core's DeviceConfig); local_version=N acknowledges version N.
curl -sS --fail-with-body --max-time 10 -H "$auth" "$device/config?local_version=0"; echo

# One reading (202 once Pub/Sub has it).
curl -sS --fail-with-body --max-time 10 -H "$auth" -H 'Content-Type: application/json' \
  -d '{"ts": "2026-01-01T12:00:00Z", "metrics": {"temperature": 21.5, "door_open": false}, "seq": 1}' \
  "$device/telemetry"; echo

# A SenML pack (RFC 8428).
curl -sS --fail-with-body --max-time 10 -H "$auth" -H 'Content-Type: application/senml+json' \
  -d '[{"bn": "urn:dev:'"$DEVICE_ID"':", "bt": 1767268800, "n": "voltage", "u": "V", "v": 120.1}, {"n": "current", "u": "A", "v": 1.2}]' \
  "$device/telemetry"; echo

# The device's state: any JSON document (kept, the last 10, and published to STATE_TOPIC).
curl -sS --fail-with-body --max-time 10 -H "$auth" -H 'Content-Type: application/json' \
  -d '{"firmware": "1.4.2", "uptime_s": 3600}' "$device/state"; echo
