import { describe, expect, it } from 'vitest';
import { bearerChecker, bearerMatcher, constantTimeEqual, parseBearer } from '../shared/auth/bearer.ts';

describe('parseBearer', () => {
  it('takes the credential of a Bearer header, the scheme in any case', () => {
    expect(parseBearer('Bearer abc.DEF-_~+/=')).toBe('abc.DEF-_~+/=');
    expect(parseBearer('bearer x')).toBe('x');
    expect(parseBearer(' \tBEARER \t y \t')).toBe('y');
  });

  it('refuses a missing header, another scheme, an empty or a spaced credential', () => {
    for (const header of [undefined, '', 'Basic abc', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearerabc', 'Bearer a=b']) expect(parseBearer(header)).toBeUndefined();
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

describe('bearerMatcher', () => {
  it('accepts any configured secret and nothing else; empty secrets never match', () => {
    const matches = bearerMatcher(['one', '', 'two']);
    expect(matches('Bearer one')).toBe(true);
    expect(matches('Bearer two')).toBe(true);
    expect(matches('Bearer three')).toBe(false);
    expect(matches('Bearer ')).toBe(false);
    expect(matches(undefined)).toBe(false);
    expect(bearerChecker('')('Bearer ')).toBe(false);
  });
});
