/** `Authorization: Bearer` parsed once and secrets compared in one place (shared/auth/bearer.ts). */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bearerChecker, bearerMatcher, constantTimeEqual, parseBearer, secretMatches } from '../../../shared/auth/bearer.ts';

describe('parseBearer', () => {
  it.each([
    ['Bearer abc.DEF-_~+/=', 'abc.DEF-_~+/='],
    ['bearer  tok==  ', 'tok=='],
    ['\tBEARER\ttok', 'tok'],
  ])('%j → %s', (header, credential) => {
    expect(parseBearer(header)).toBe(credential);
  });

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearer a=b', 'Bearer tök', 'Bearertok'])('%j → undefined', (header) => {
    expect(parseBearer(header)).toBeUndefined();
  });
});

describe('secretMatches', () => {
  const expected = createHash('sha256').update('s3cret').digest();
  it('matches the secret only, whatever the length presented', () => {
    expect(secretMatches('s3cret', expected)).toBe(true);
    expect(secretMatches('s3cre', expected)).toBe(false);
    expect(secretMatches('s3cret!', expected)).toBe(false);
    expect(secretMatches(undefined, expected)).toBe(false);
  });
});

describe('bearerMatcher', () => {
  it('accepts any configured secret (during a rotation both), and never an empty one', () => {
    const matches = bearerMatcher(['old', 'new', '']);
    expect(matches('Bearer old')).toBe(true);
    expect(matches('Bearer new')).toBe(true);
    expect(matches('Bearer other')).toBe(false);
    expect(matches('Bearer ')).toBe(false);
    expect(matches(undefined)).toBe(false);
    expect(bearerMatcher([''])('Bearer ')).toBe(false);
  });

  it('checks one secret with bearerChecker', () => {
    expect(bearerChecker('x')('Bearer x')).toBe(true);
    expect(bearerChecker('x')('x')).toBe(false);
  });
});

describe('constantTimeEqual', () => {
  it('is true only for the same bytes', () => {
    expect(constantTimeEqual(Buffer.from('secret'), Buffer.from('secret'))).toBe(true);
    expect(constantTimeEqual(Buffer.from('secret'), Buffer.from('secreT'))).toBe(false);
  });

  it('answers false for unequal lengths instead of throwing', () => {
    expect(constantTimeEqual(Buffer.from('secret'), Buffer.from('secrets'))).toBe(false);
    expect(constantTimeEqual(Buffer.alloc(0), Buffer.from('x'))).toBe(false);
  });
});
