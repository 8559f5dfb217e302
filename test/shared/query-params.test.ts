import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../shared/errors.ts';
import { MAX_QUERY_ISSUES, parseQueryParams, queryOf } from '../../shared/query-params.ts';

const Schema = z.strictObject({ size: z.string().regex(/^\d+$/).optional(), name: z.string().optional() });

/** The issues of the ValidationError parseQueryParams throws for `query`. */
function issuesOf(query: string): { path: string; message: string }[] {
  try {
    parseQueryParams(Schema, new URLSearchParams(query));
  } catch (error) {
    if (error instanceof ValidationError) return error.issues ?? [];
    throw error;
  }
  throw new Error(`${query} was accepted`);
}

describe('parseQueryParams', () => {
  it('answers the parsed query', () => {
    expect(parseQueryParams(Schema, new URLSearchParams('size=5&name=a'))).toEqual({ size: '5', name: 'a' });
  });

  it('names every issue: a repeat, an unknown name, a bad value', () => {
    expect(issuesOf('name=a&name=b&colour=red&size=x')).toEqual([
      { path: 'name', message: 'is given more than once; give it once (a list is one comma-separated value: a,b)' },
      { path: 'colour', message: 'is not a parameter of this endpoint' },
      { path: 'size', message: expect.any(String) },
    ]);
  });

  it('names an unknown parameter once, as unknown, however often it came', () => {
    expect(issuesOf('r0=1&r0=2&r0=3')).toEqual([{ path: 'r0', message: 'is not a parameter of this endpoint' }]);
  });

  it('cuts a long name at 100 characters, never inside a surrogate pair', () => {
    const [issue] = issuesOf(`${'x'.repeat(99)}${'😀'.repeat(5)}=1`);
    expect(issue?.path).toBe('x'.repeat(99));
    expect(issue?.path.isWellFormed()).toBe(true);
    expect(issuesOf(`${'y'.repeat(150)}=1`)[0]?.path).toBe('y'.repeat(100));
  });

  it(`names at most ${MAX_QUERY_ISSUES} issues, then says how many more`, () => {
    const issues = issuesOf(Array.from({ length: 60 }, (_, i) => `u${i}=1`).join('&'));
    expect(issues).toHaveLength(MAX_QUERY_ISSUES + 1);
    expect(issues.at(-1)).toEqual({ path: '', message: 'and 10 more issues' });
  });
});

describe('queryOf', () => {
  it('reads the query string of a request target', () => {
    expect([...queryOf('/v1/devices?pageSize=5&pageToken=a%2Bb')]).toEqual([
      ['pageSize', '5'],
      ['pageToken', 'a+b'],
    ]);
    expect([...queryOf('/v1/devices')]).toEqual([]);
    expect([...queryOf('/v1/devices?')]).toEqual([]);
    // A fragment a client sent along in the request line is not part of the query.
    expect([...queryOf('/v1/devices/x?#frag')]).toEqual([]);
    expect([...queryOf('/v1/devices?pageSize=1#x')]).toEqual([['pageSize', '1']]);
  });
});
