/**
 * Telemetry payloads normalised to one device's readings (shared/telemetry.ts): a reading,
 * an array, a batch, or a SenML pack (whose resolution is test/schemas/senml.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTelemetry, parseTelemetryBySchema } from '../../shared/telemetry.ts';
import { DEVICE_READING_ID, deviceReadingLike, payloadLike, readingLike } from '../support/bad-input.ts';

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

  it('refuses a __proto__ key wherever it is, which the schemas alone would drop without a word', () => {
    const reading = JSON.parse('{"metrics":{"t":1,"__proto__":42},"tags":{"__proto__":"x"},"units":{"__proto__":"C"}}') as unknown;
    expect(parseTelemetry(reading, { nowMs })).toEqual({
      ok: false,
      issues: expect.arrayContaining(
        ['metrics.__proto__', 'tags.__proto__', 'units.__proto__'].map((path) => ({ path, message: '"__proto__" is not allowed as a key' })),
      ) as unknown,
    });
    const batch = JSON.parse('{"deviceId":"dev-1","readings":[{"metrics":{"t":1}},{"metrics":{"t":2},"tags":{"__proto__":"x"}}]}') as unknown;
    expect(parseTelemetry(batch, { nowMs })).toMatchObject({ ok: false, issues: [{ path: 'readings.1.tags.__proto__' }] });
    const pack = JSON.parse('[{"n":"t","v":1,"__proto__":{}}]') as unknown;
    expect(parseTelemetry(pack, { nowMs })).toMatchObject({
      ok: false,
      issues: expect.arrayContaining([expect.objectContaining({ path: '0.__proto__' })]) as unknown,
    });
  });

  it('refuses a document nested 300,000 deep (ingest does not bound depth) with short paths only', () => {
    const deep = JSON.parse(`${'['.repeat(300_000)}{"__proto__":1}${']'.repeat(300_000)}`) as unknown;
    const result = parseTelemetryBySchema(deep, { nowMs });
    expect(result.ok).toBe(false);
    if (!result.ok) for (const issue of result.issues) expect(String(issue.path).length).toBeLessThan(100);
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

describe('parseTelemetry against the schemas alone', () => {
  /** As ingest and the bridge see a payload: what JSON.parse makes of it. */
  const overTheWire = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');
  const batchOf = (readings: fc.Arbitrary<unknown>) =>
    fc.record({
      deviceId: fc.oneof(fc.constant(DEVICE_READING_ID), fc.constant('other-dev'), fc.constant('bad id')),
      readings: fc.array(readings, { maxLength: 4 }),
    });

  it('returns what the zod schemas return, issues included, for every form (fuzz corpus)', () => {
    let fastForms = 0;
    fc.assert(
      fc.property(
        fc.oneof(payloadLike, readingLike, deviceReadingLike, fc.array(deviceReadingLike, { maxLength: 4 }), batchOf(deviceReadingLike), batchOf(readingLike)),
        fc.boolean(),
        (payload, senml) => {
          const value = overTheWire(payload);
          const nowMs = Date.now();
          const bySchema = parseTelemetryBySchema(value, { nowMs, senml });
          const parsed = parseTelemetry(value, { nowMs, senml });
          expect(JSON.stringify(parsed)).toBe(JSON.stringify(bySchema));
          if (parsed.ok && !senml) fastForms++;
        },
      ),
      { numRuns: 4_000 },
    );
    // The corpus must reach the fast path, or the agreement above proves nothing about it.
    expect(fastForms).toBeGreaterThan(500);
  });
});
