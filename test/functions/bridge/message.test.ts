/** What the bridge publishes for a device's telemetry (functions/bridge/message.ts). */
import { describe, expect, it } from 'vitest';
import type { DeviceAuth } from '../../../functions/bridge/credentials-cache.ts';
import { buildTelemetryMessage } from '../../../functions/bridge/message.ts';
import { parseTelemetry } from '../../../shared/telemetry.ts';

const device: DeviceAuth = { deviceId: 'dev-1', numId: '42', registry: 'reg-a', blocked: false, tokens: [], keys: [] };
const receivedAt = Date.now();
const receivedIso = new Date(receivedAt).toISOString();

function normalised(payload: unknown, senml = false) {
  const parsed = parseTelemetry(payload, { nowMs: receivedAt, senml });
  if (!parsed.ok) throw new Error(`fixture invalid: ${JSON.stringify(parsed.issues)}`);
  return parsed.value;
}

describe('buildTelemetryMessage', () => {
  it('publishes the readings under the device, each with an RFC 3339 ts (the receive time when it had none)', () => {
    const ts = receivedAt - 60_000;
    const message = buildTelemetryMessage(device, normalised([{ deviceId: 'dev-1', ts, seq: 1, metrics: { t: 1 } }, { metrics: { t: 2 } }]), receivedAt);
    expect(JSON.parse(message.data.toString())).toEqual({
      deviceId: 'dev-1',
      readings: [
        { ts: new Date(ts).toISOString(), seq: 1, metrics: { t: 1 } },
        { ts: receivedIso, metrics: { t: 2 } },
      ],
    });
    expect(message.attributes).toEqual({ deviceId: 'dev-1', deviceNumId: '42', registry: 'reg-a', schemaVersion: '1', receivedAt: receivedIso });
  });

  it('publishes a SenML pack in its resolved form, marked by its content type', () => {
    const message = buildTelemetryMessage(device, normalised([{ bn: 'dev:', n: 'temp', u: 'Cel', v: 21 }], true), receivedAt);
    expect(message.attributes.contentType).toBe('application/senml+json');
    const pack = JSON.parse(message.data.toString()) as Record<string, unknown>[];
    expect(pack).toHaveLength(1);
    expect(pack[0]).toMatchObject({ n: 'dev:temp', u: 'Cel', v: 21 });
  });
});
