import { describe, expect, it } from 'vitest';
import { errorResponse } from '../../shared/errors.ts';
import { InvalidJsonError, parseJson } from '../../shared/json.ts';

describe('parseJson', () => {
  it('parses text and bytes alike', () => {
    expect(parseJson('{"a":[1,true,null]}', 'the body')).toEqual({ a: [1, true, null] });
    expect(parseJson(Buffer.from('"é"', 'utf8'), 'the body')).toBe('é');
  });

  it('refuses what is not JSON with 400 invalid_json, naming what it read and where it sits', () => {
    let caught: unknown;
    try {
      parseJson('{"metrics": ', 'message data', 'message.data');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidJsonError);
    const { status, body } = errorResponse(caught);
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_json');
    expect(body.message).toMatch(/^message data is not valid JSON: /);
    expect(body.issues).toEqual([{ path: 'message.data', message: expect.any(String) }]);
  });

  it('refuses bytes that are not UTF-8 rather than replace them', () => {
    expect(() => parseJson(Buffer.from('{"site":"K\xf6ln"}', 'latin1'), 'the body')).toThrow('the body is not valid JSON: its bytes are not UTF-8');
    expect(() => parseJson(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), 'the body')).toThrow(InvalidJsonError);
  });

  it('refuses empty text the same way', () => {
    expect(() => parseJson('', 'the body')).toThrow(InvalidJsonError);
  });
});
