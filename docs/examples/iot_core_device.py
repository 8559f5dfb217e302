#!/usr/bin/env python3
"""An IoT Core HTTP device in Python: standard library plus PyJWT (and `cryptography`, which
PyJWT uses for RS256/ES256). It reads its configuration, publishes one reading and reports its
state, exactly as on Cloud IoT Core's HTTP bridge; only the base URL differs.

Environment: BRIDGE_URL (e.g. http://127.0.0.1:8080), PROJECT_ID, REGION, REGISTRY_ID,
DEVICE_ID, PRIVATE_KEY_FILE, ALGORITHM (RS256 or ES256). See docs/devices.md.
"""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

import jwt  # PyJWT

env = os.environ
device_path = "{}/v1/projects/{}/locations/{}/registries/{}/devices/{}".format(
    env["BRIDGE_URL"], env["PROJECT_ID"], env["REGION"], env["REGISTRY_ID"], env["DEVICE_ID"]
)


def device_jwt():
    """aud = the project id; iat/exp in seconds; at most 24 h of lifetime."""
    now = int(time.time())
    with open(env["PRIVATE_KEY_FILE"]) as f:
        key = f.read()
    claims = {"aud": env["PROJECT_ID"], "iat": now, "exp": now + 3600}
    return jwt.encode(claims, key, algorithm=env["ALGORITHM"])


def call(method, url, body=None):
    headers = {"authorization": "Bearer " + device_jwt()}
    data = None
    if body is not None:
        headers["content-type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        # Google's error body: {"error": {"code", "message", "status"}}
        return error.code, json.load(error)


def b64(data):
    return base64.b64encode(data).decode("ascii")


status, config = call("GET", device_path + "/config?local_version=0")
print("config", status, config)
if status != 200:
    sys.exit(1)
local_version = int(config["version"])
settings = base64.b64decode(config.get("binaryData", ""))
print("config data", settings.decode(errors="replace"))

# Acknowledge the version we now run (IoT Core records deviceAckTime).
status, _ = call("GET", device_path + "/config?local_version=%d" % local_version)
print("ack", status)

reading = {"metrics": {"temperature": 21.5, "door_open": False}}
status, answer = call("POST", device_path + ":publishEvent", {"binaryData": b64(json.dumps(reading).encode())})
print("publishEvent", status, answer)
if status != 200:
    sys.exit(1)

status, answer = call("POST", device_path + ":setState", {"state": {"binaryData": b64(json.dumps({"firmware": "1.4.2", "config": local_version}).encode())}})
print("setState", status, answer)
sys.exit(0 if status == 200 else 1)
