/** Integers in query strings (schemas/query-integer.ts); the APIs' 400s for them are in test/readings.test.ts and test/registry-*.test.ts. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NOT_DECIMAL_DIGITS, queryInteger } from '../../schemas/query-integer.ts';

const PageSize = queryInteger(z.number().min(1).max(1000));
const messages = (text: unknown) => PageSize.safeParse(text).error?.issues.map((i) => i.message);

describe('queryInteger', () => {
  it.each([
    ['1', 1],
    ['1000', 1000],
    ['05', 5],
    ['0001000', 1000],
  ])('reads %j as %i', (text, value) => {
    expect(PageSize.parse(text)).toBe(value);
  });

  it.each(['1e2', '0x2', '0b1', '0o7', ' 5', '5 ', '5.0', '5.', '.5', '+5', '-5', '', '5_0', '1,000', 'Infinity', 'NaN', '٥', '５'])(
    'refuses %j as not plain decimal digits, whatever Number() makes of it',
    (text) => {
      expect(messages(text)).toEqual([NOT_DECIMAL_DIGITS]);
    },
  );

  it("refuses digits out of range with the bounds' own messages, once, however many digits", () => {
    expect(messages('0')).toEqual(['Too small: expected number to be >=1']);
    for (const text of ['1001', '99999999999999999999', '9'.repeat(400)]) expect(messages(text), text).toEqual(['Too big: expected number to be <=1000']);
    const Count = queryInteger(z.number().min(0).max(10, { error: 'numStates is at most 10' }));
    expect(Count.parse('0')).toBe(0);
    expect(Count.safeParse('11').error?.issues.map((i) => i.message)).toEqual(['numStates is at most 10']);
  });

  it('refuses what is not a string (a parameter Express read twice is an array)', () => {
    expect(PageSize.safeParse(['1', '2']).success).toBe(false);
    expect(PageSize.safeParse(5).success).toBe(false);
  });
});
