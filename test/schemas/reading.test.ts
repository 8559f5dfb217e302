/** One reading as a device sends it (schemas/reading.ts); the bridge's answers to bad ones are test/bridge.test.ts. */
import { describe, expect, it } from 'vitest';
import { EARLIEST_EVENT_MS, EventTime, MAX_FUTURE_SKEW_MS, MAX_METRICS_PER_READING, MetricName, Reading, Text } from '../../schemas/reading.ts';

const issuePaths = (value: unknown) => {
  const parsed = Reading.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'));
};

describe('Reading', () => {
  it('takes metrics of numbers, booleans and short text, with optional ts, seq, units, location and tags', () => {
    const reading = {
      ts: '2026-04-02T10:00:00+02:00',
      seq: 0,
      metrics: { t: 21.5, open: false, status: 'ok' },
      units: { t: 'Cel' },
      location: { lat: 52.5, lon: 13.4 },
      tags: { line: '1' },
    };
    expect(Reading.parse(reading)).toEqual({ ...reading, ts: Date.UTC(2026, 3, 2, 8) });
  });

  it('refuses unknown fields, no metrics, too many metrics, and values of other types, each by path', () => {
    expect(issuePaths({ metrics: { t: 1 }, extra: 1 })).toEqual(['']);
    expect(issuePaths({ metrics: {} })).toEqual(['metrics']);
    expect(issuePaths({ metrics: Object.fromEntries(Array.from({ length: MAX_METRICS_PER_READING + 1 }, (_, i) => [`m${i}`, i])) })).toEqual(['metrics']);
    expect(issuePaths({ metrics: { t: null, u: [1], v: 'x'.repeat(1025) } }).sort()).toEqual(['metrics.t', 'metrics.u', 'metrics.v']);
    expect(issuePaths({ metrics: { t: 1 }, seq: -1, location: { lat: 91, lon: 0 } }).sort()).toEqual(['location.lat', 'seq']);
  });
});

describe('EventTime', () => {
  it('reads RFC 3339 with an offset or epoch ms, between 2000-01-01 and 24 h ahead', () => {
    expect(EventTime.parse(EARLIEST_EVENT_MS)).toBe(EARLIEST_EVENT_MS);
    expect(EventTime.safeParse(EARLIEST_EVENT_MS - 1).success).toBe(false);
    expect(EventTime.safeParse(Date.now() + MAX_FUTURE_SKEW_MS + 60_000).success).toBe(false);
    expect(EventTime.safeParse('2026-04-02T10:00:00').success).toBe(false);
    expect(EventTime.parse(1_775_124_000_000.4)).toBe(1_775_124_000_000);
  });
});

describe('MetricName and Text', () => {
  it('names start with a letter and use a small alphabet', () => {
    for (const name of ['t', 'door.open', 'ns:temp/1', 'a_b-c']) expect(MetricName.safeParse(name).success, name).toBe(true);
    for (const name of ['', '1t', 'with space', 'é', 'x'.repeat(129)]) expect(MetricName.safeParse(name).success, name).toBe(false);
  });

  it('text refuses NUL and unpaired surrogates, which no store keeps', () => {
    expect(Text.safeParse('ok 🔥').success).toBe(true);
    expect(Text.safeParse('a\u0000b').success).toBe(false);
    expect(Text.safeParse('\uD800').success).toBe(false);
  });
});
