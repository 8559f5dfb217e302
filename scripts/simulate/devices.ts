/**
 * Simulated devices: drifting temperature and humidity, a draining battery, occasional gaps
 * (a tick with nothing sent) and late readings (sent with an older timestamp), each posted
 * in one of the bridge's forms: a reading, a batch, a SenML pack, or IoT Core's publishEvent
 * with an ES256 device JWT.
 * @see ../../docs/devices.md
 * @see https://www.rfc-editor.org/rfc/rfc8428 (SenML)
 * @see https://cloud.google.com/iot/docs/how-tos/credentials/jwts (IoT Core JWTs)
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export const STYLES = ['reading', 'batch', 'senml', 'iotcore'] as const;
export type Style = (typeof STYLES)[number];

export interface SimulatedDevice {
  deviceId: string;
  style: Style;
  registry: string;
  /** The token secret (token styles) from the registry's response. */
  token?: string;
  /** The ES256 private key (iotcore style). */
  privateKey?: KeyObject;
  publicKeyPem?: string;
  jwt?: { value: string; expiresAtMs: number };
  seq: number;
  temperature: number;
  humidity: number;
  battery: number;
}

export interface DeviceRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Readings in the body when the answer does not count them (IoT Core's 200 `{}`). */
  readings?: number;
}

const BATCH_SIZE = 5;
const LATE_PROBABILITY = 0.05;
export const GAP_PROBABILITY = 0.02;

export function createDevice(deviceId: string, style: Style, registry: string): SimulatedDevice {
  const device: SimulatedDevice = { deviceId, style, registry, seq: 0, temperature: 18 + Math.random() * 6, humidity: 35 + Math.random() * 20, battery: 100 };
  if (style === 'iotcore') {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    device.privateKey = privateKey;
    device.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }
  return device;
}

/** The device's entry for `POST /v1/devices:batchCreate`. */
export function registration(device: SimulatedDevice, site: string) {
  return {
    deviceId: device.deviceId,
    registry: device.registry,
    site,
    tags: { simulated: 'true' },
    credentials: [device.publicKeyPem ? { type: 'es256', publicKeyPem: device.publicKeyPem } : { type: 'token' }],
  };
}

/** One reading: a random walk pulled back towards a comfortable mean; the battery drains. */
function nextReading(device: SimulatedDevice, nowMs: number) {
  device.seq += 1;
  device.temperature += (21 - device.temperature) * 0.02 + (Math.random() - 0.5) * 0.4;
  device.humidity = Math.min(100, Math.max(0, device.humidity + (45 - device.humidity) * 0.02 + (Math.random() - 0.5)));
  device.battery = Math.max(0, device.battery - Math.random() * 0.01);
  const late = Math.random() < LATE_PROBABILITY;
  const ts = nowMs - (late ? 60_000 + Math.floor(Math.random() * 540_000) : 0);
  return {
    ts,
    seq: device.seq,
    metrics: { temperature: round(device.temperature, 2), humidity: round(device.humidity, 1), battery: round(device.battery, 2) },
  };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The next request the device sends, in its style. */
export function nextRequest(device: SimulatedDevice, nowMs: number, projectId: string): DeviceRequest {
  const json = { 'content-type': 'application/json' };
  switch (device.style) {
    case 'reading':
      return { path: telemetryPath(device), headers: { ...json, ...bearer(device.token) }, body: JSON.stringify(nextReading(device, nowMs)) };
    case 'batch': {
      const readings = Array.from({ length: BATCH_SIZE }, (_, i) => nextReading(device, nowMs - (BATCH_SIZE - 1 - i) * 1000));
      return { path: telemetryPath(device), headers: { ...json, ...bearer(device.token) }, body: JSON.stringify(readings) };
    }
    case 'senml': {
      const r = nextReading(device, nowMs);
      const pack = [
        { bt: r.ts / 1000, n: 'temperature', u: 'Cel', v: r.metrics.temperature },
        { n: 'humidity', u: '%RH', v: r.metrics.humidity },
        { n: 'battery', u: '%EL', v: r.metrics.battery },
      ];
      return { path: telemetryPath(device), headers: { 'content-type': 'application/senml+json', ...bearer(device.token) }, body: JSON.stringify(pack) };
    }
    case 'iotcore': {
      const payload = Buffer.from(JSON.stringify(nextReading(device, nowMs))).toString('base64');
      return {
        path: `/v1/projects/${projectId}/locations/us-central1/registries/${device.registry}/devices/${device.deviceId}:publishEvent`,
        headers: { ...json, ...bearer(deviceJwt(device, nowMs, projectId)) },
        body: JSON.stringify({ binaryData: payload, subFolder: 'env' }),
        readings: 1,
      };
    }
  }
}

const telemetryPath = (device: SimulatedDevice) => `/v1/devices/${encodeURIComponent(device.deviceId)}/telemetry`;
const bearer = (credential: string | undefined): Record<string, string> => (credential ? { authorization: `Bearer ${credential}` } : {});

/** An IoT Core device JWT (aud = project id, one hour), re-signed ten minutes before it expires. */
function deviceJwt(device: SimulatedDevice, nowMs: number, projectId: string): string {
  if (device.jwt && device.jwt.expiresAtMs - nowMs > 600_000) return device.jwt.value;
  const iat = Math.floor(nowMs / 1000);
  const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${encode({ alg: 'ES256', typ: 'JWT' })}.${encode({ aud: projectId, iat, exp: iat + 3600 })}`;
  // JOSE wants the raw r||s signature, not DER.
  const signature = sign('sha256', Buffer.from(input), { key: device.privateKey as KeyObject, dsaEncoding: 'ieee-p1363' });
  device.jwt = { value: `${input}.${signature.toString('base64url')}`, expiresAtMs: (iat + 3600) * 1000 };
  return device.jwt.value;
}
