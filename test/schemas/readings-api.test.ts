/** The readings API's query parameters (schemas/readings-api.ts); the API on the wire is test/readings.test.ts. */
import { describe, expect, it } from 'vitest';
import { countBuckets, Duration, QueryTime } from '../../schemas/readings-api.ts';

describe('QueryTime', () => {
  it('reads RFC 3339 with an offset and epoch milliseconds', () => {
    expect(QueryTime.parse('2026-04-02T10:00:00+02:00')).toBe(Date.UTC(2026, 3, 2, 8));
    expect(QueryTime.parse('1775124000000')).toBe(1775124000000);
  });

  it.each(['2026-04-02T10:00:00', 'yesterday', '-5', '1e12', ''])('refuses %j', (text) => {
    expect(QueryTime.safeParse(text).success).toBe(false);
  });
});

describe('Duration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
  ])('%s → %i ms', (text, ms) => {
    expect(Duration.parse(text)).toBe(ms);
  });

  it.each(['0s', '15', '1w', '1.5h', '-1m'])('refuses %j', (text) => {
    expect(Duration.safeParse(text).success).toBe(false);
  });
});

describe('countBuckets', () => {
  it('counts the aligned buckets a window [from, to) touches', () => {
    expect(countBuckets(0, 60_000, 60_000)).toBe(1);
    expect(countBuckets(30_000, 90_000, 60_000)).toBe(2);
    expect(countBuckets(0, 60_001, 60_000)).toBe(2);
    expect(countBuckets(0, 0, 60_000)).toBe(0);
  });
});
