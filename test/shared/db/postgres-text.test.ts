/** Text and JSON made acceptable to PostgreSQL (shared/db/postgres-text.ts). */
import { describe, expect, it } from 'vitest';
import { jsonForPostgres, textForPostgres } from '../../../shared/db/postgres-text.ts';

describe('jsonForPostgres', () => {
  it('replaces the NUL escape but leaves the text "\\u0000" (an escaped backslash) as it is', () => {
    expect(JSON.parse(jsonForPostgres({ a: 'x\u0000y', b: '\\u0000', c: '\\\u0000' }))).toEqual({ a: 'x\ufffdy', b: '\\u0000', c: '\\\ufffd' });
  });
});

describe('textForPostgres', () => {
  it('keeps every NUL visible as U+FFFD and leaves other text as it is', () => {
    expect(textForPostgres('a\u0000b\u0000')).toBe('a\ufffdb\ufffd');
    expect(textForPostgres('plain \\u0000 text')).toBe('plain \\u0000 text');
  });
});

describe('jsonForPostgres with lone surrogates', () => {
  it('replaces a lone surrogate in a value and in a key, and keeps a well-formed pair', () => {
    const text = jsonForPostgres({ ['k\ud800']: ['\udc00x', '\ud83d\ude00'] });
    expect(text).not.toMatch(/\\ud[89a-f]/i);
    expect(JSON.parse(text)).toEqual({ 'k\ufffd': ['\ufffdx', '\ud83d\ude00'] });
  });

  it('writes null for undefined, as a jsonb column needs a value', () => {
    expect(jsonForPostgres(undefined)).toBe('null');
  });
});
