/**
 * Telemetry payloads normalised to one device's readings (shared/telemetry.ts): a reading,
 * an array, a batch, or a SenML pack (whose resolution is test/schemas/senml.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseTelemetry } from '../../shared/telemetry.ts';

const nowMs = Date.now();
const ts = new Date(nowMs - 60_000).toISOString();

describe('parseTelemetry', () => {
  it('takes one reading, an array of readings and a batch, with event times as epoch ms', () => {
    expect(parseTelemetry({ ts, metrics: { t: 1 } }, { nowMs })).toEqual({ ok: true, value: { readings: [{ ts: Date.parse(ts), metrics: { t: 1 } }] } });
    expect(parseTelemetry([{ metrics: { t: 1 } }, { deviceId: 'dev-1', metrics: { t: 2 } }], { nowMs })).toMatchObject({
      ok: true,
      value: { deviceId: 'dev-1', readings: [{}, {}] },
    });
    expect(parseTelemetry({ deviceId: 'dev-1', readings: [{ metrics: { t: 1 } }] }, { nowMs })).toMatchObject({ ok: true, value: { deviceId: 'dev-1' } });
  });

  it('refuses readings that disagree on their device, naming each one', () => {
    expect(parseTelemetry({ deviceId: 'dev-1', readings: [{ metrics: { t: 1 } }, { deviceId: 'dev-2', metrics: { t: 2 } }] }, { nowMs })).toEqual({
      ok: false,
      issues: [{ path: 'readings.1.deviceId', message: '"dev-2" differs from "dev-1"' }],
    });
  });

  it('names every issue with its path', () => {
    const result = parseTelemetry([{ metrics: {} }, { ts: '2026-01-01', metrics: { t: 1 } }], { nowMs });
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.issues.map((i) => i.path).sort()).toEqual(['0.metrics', '1.ts']);
  });

  it('reads an array of records without metrics as SenML, and any array as SenML when told to', () => {
    expect(parseTelemetry([{ n: 'temp', v: 1 }], { nowMs })).toMatchObject({ ok: true, value: { senml: [{}] } });
    expect(parseTelemetry([{ metrics: { t: 1 } }], { nowMs, senml: true }).ok).toBe(false);
  });

  it('refuses a SenML pack whose resolved time is not plausible, or that holds no value', () => {
    expect(parseTelemetry([{ n: 'temp', v: 1, t: 946_684_799 }], { nowMs })).toMatchObject({ ok: false, issues: [{ path: '0.t' }] });
    expect(parseTelemetry([{ bn: 'dev:' }], { nowMs })).toMatchObject({ ok: false });
  });
});
