/**
 * local/stack/json-body.ts: when a request has a JSON body, and how a bad one is refused.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.ts';
import { jsonBody, parseJsonBody } from '../../../local/stack/json-body.ts';

const request = (body: string | Buffer, headers: Record<string, string> = {}) => ({
  headers: { 'content-length': String(Buffer.byteLength(body)), ...headers },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
});
const json = (body: string | Buffer, contentType = 'application/json') => request(body, { 'content-type': contentType });

function refusal(run: () => unknown): HttpError {
  try {
    run();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('jsonBody', () => {
  it('parses an object or an array sent as application/json, with or without parameters', () => {
    expect(jsonBody(json('{"a":1}'))).toEqual({ a: 1 });
    expect(jsonBody(json(' [1, 2]', 'Application/JSON; charset=UTF-8'))).toEqual([1, 2]);
  });

  it('has no body when the request does not say JSON, or sends nothing', () => {
    expect(jsonBody(request('{"a":1}'))).toBeUndefined();
    expect(jsonBody(json('{"a":1}', 'application/jsonx'))).toBeUndefined();
    expect(jsonBody(json('{"a":1}', 'text/plain'))).toBeUndefined();
    expect(jsonBody({ headers: { 'content-type': 'application/json' }, body: Buffer.alloc(0) })).toBeUndefined();
  });

  it('reads a declared empty body as {}', () => {
    expect(jsonBody(json(''))).toEqual({});
  });

  it('decodes UTF-16 when the charset says so, and refuses a charset that is not UTF with 415', () => {
    expect(jsonBody(json(Buffer.from('{"a":"é"}', 'utf16le'), 'application/json; charset=utf-16le'))).toEqual({ a: 'é' });
    expect(refusal(() => jsonBody(json('{}', 'application/json; charset=latin1')))).toMatchObject({ status: 415, message: 'unsupported charset "LATIN1"' });
    expect(refusal(() => jsonBody(json('{}', 'application/json; charset=utf-99'))).status).toBe(415);
  });

  it('refuses malformed JSON and a top level that is neither object nor array with 400 invalid_json', () => {
    expect(refusal(() => jsonBody(json('{"a":')))).toMatchObject({
      status: 400,
      code: 'invalid_json',
      message: expect.stringMatching(/^malformed JSON body: .+/) as unknown,
    });
    expect(refusal(() => jsonBody(json('"text"')))).toMatchObject({ status: 400, code: 'invalid_json' });
    expect(refusal(() => jsonBody(json('   ')))).toMatchObject({
      status: 400,
      message: 'malformed JSON body: expected an object or an array, found only white space',
    });
  });
});

describe('parseJsonBody', () => {
  const Schema = z.object({ n: z.number() });

  it('answers 415 without a JSON body and 400 with every issue for one that does not fit', () => {
    expect(parseJsonBody(Schema, json('{"n":1}'))).toEqual({ n: 1 });
    expect(refusal(() => parseJsonBody(Schema, request('{"n":1}')))).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    const misfit = refusal(() => parseJsonBody(Schema, json('{"n":"x"}')));
    expect(misfit.status).toBe(400);
    expect(misfit.issues?.map((i) => i.path)).toEqual(['n']);
  });
});
