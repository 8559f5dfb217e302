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

  it('takes instants from year 1 to the day before the last of year 9999, and names the range past them', () => {
    expect(QueryTime.parse('0001-01-01T00:00:00Z')).toBe(-62_135_596_800_000);
    expect(QueryTime.parse('9999-12-30T23:59:59.999Z')).toBe(253_402_214_399_999);
    expect(QueryTime.parse('253402214399999')).toBe(253_402_214_399_999);
    for (const text of ['0000-12-31T23:59:59Z', '9999-12-31T00:00:00Z', '9999-12-31T23:00:00-01:00', '253402214400000', '999999999999999']) {
      expect(
        QueryTime.safeParse(text).error?.issues.map((i) => i.message),
        text,
      ).toEqual(['must be from 0001-01-01T00:00:00Z and before 9999-12-31T00:00:00Z']);
    }
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
