/** Opaque, tamper-evident page tokens bound to their query (functions/readings/page-token.ts). */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createPageTokenCodec } from '../../../functions/readings/page-token.ts';
import { ValidationError } from '../../../shared/errors.ts';

const Cursor = z.object({ ts: z.number(), id: z.string() });
const codec = createPageTokenCodec(['secret-a']);
const token = codec.encode('device=dev-1&order=asc', { ts: 5, id: 'r1' });

const problem = (work: () => unknown): string | undefined => {
  try {
    work();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues?.find((i) => i.path === 'pageToken')?.message;
    throw error;
  }
  throw new Error('expected a ValidationError');
};

describe('page tokens', () => {
  it('give back their cursor for the same query, under any instance with the same secrets', () => {
    expect(codec.decode(token, 'device=dev-1&order=asc', Cursor)).toEqual({ ts: 5, id: 'r1' });
    expect(createPageTokenCodec(['secret-a']).decode(token, 'device=dev-1&order=asc', Cursor)).toEqual({ ts: 5, id: 'r1' });
  });

  it('are refused with another query, saying to keep the other parameters', () => {
    expect(problem(() => codec.decode(token, 'device=dev-2&order=asc', Cursor))).toMatch(/another query/);
  });

  it('are refused when altered, forged, signed under another secret, or holding another cursor', () => {
    const [payload, signature] = token.split('.') as [string, string];
    const altered = Buffer.from(JSON.stringify({ v: 1, s: 'device=dev-1&order=asc', c: { ts: 6, id: 'r1' } })).toString('base64url');
    for (const bad of [
      `${altered}.${signature}`,
      `${payload}.${'A'.repeat(43)}`,
      createPageTokenCodec(['secret-b']).encode('device=dev-1&order=asc', { ts: 5, id: 'r1' }),
      codec.encode('device=dev-1&order=asc', { other: true }),
      'not a token',
      '',
    ]) {
      expect(
        problem(() => codec.decode(bad, 'device=dev-1&order=asc', Cursor)),
        bad,
      ).toBe('is not a page token this API issued');
    }
  });
});
