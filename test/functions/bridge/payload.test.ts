/**
 * Device bodies to readings (functions/bridge/payload.ts): the media type, the bound on JSON
 * nesting, and the rule that a body naming a device names the one in the path. The answers
 * on the wire are test/bridge.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isSenmlMediaType, MAX_JSON_DEPTH, parseBoundedJson, toDeviceReadings } from '../../../functions/bridge/payload.ts';
import { HttpError, ValidationError } from '../../../shared/errors.ts';

const caught = (work: () => unknown): unknown => {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
};

describe('isSenmlMediaType', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['application/json', false],
    ['Application/JSON; charset=latin1', false],
    ['application/senml+json', true],
    [' application/senml+json ; charset=utf-8', true],
  ])('%s → %s', (contentType, senml) => {
    expect(isSenmlMediaType(contentType)).toBe(senml);
  });

  it('answers 415 for any other type, naming both accepted ones', () => {
    const error = caught(() => isSenmlMediaType('text/plain'));
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({
      status: 415,
      code: 'unsupported_media_type',
      message: expect.stringMatching(/application\/json.*application\/senml\+json/) as unknown,
    });
  });
});

describe('parseBoundedJson', () => {
  const nested = (depth: number) => Buffer.from('['.repeat(depth) + ']'.repeat(depth));

  it(`parses JSON nested ${MAX_JSON_DEPTH} deep and refuses one level more before parsing`, () => {
    expect(() => parseBoundedJson(nested(MAX_JSON_DEPTH))).not.toThrow();
    expect(caught(() => parseBoundedJson(nested(MAX_JSON_DEPTH + 1), 'the body'))).toMatchObject({
      status: 400,
      code: 'too_deep',
      message: expect.stringMatching(/^the body nests/) as unknown,
    });
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: `\\"${'['.repeat(100)}` });
    expect(parseBoundedJson(Buffer.from(text))).toEqual(JSON.parse(text));
  });

  it('refuses an empty body and invalid JSON, naming what it read', () => {
    const empty = caught(() => parseBoundedJson(Buffer.alloc(0), 'binaryData'));
    expect(empty).toBeInstanceOf(ValidationError);
    expect(empty).toMatchObject({ message: 'binaryData is empty' });
    expect(caught(() => parseBoundedJson(Buffer.from('{"a":')))).toMatchObject({
      status: 400,
      code: 'invalid_json',
      message: expect.stringMatching(/^body is not valid JSON/) as unknown,
    });
  });
});

describe('toDeviceReadings', () => {
  const nowMs = Date.now();

  it('accepts a reading that names no device or the one in the path', () => {
    expect(toDeviceReadings({ metrics: { t: 1 } }, 'dev-1', { nowMs, senml: false }).readings).toEqual([{ metrics: { t: 1 } }]);
    expect(toDeviceReadings({ deviceId: 'dev-1', metrics: { t: 1 } }, 'dev-1', { nowMs, senml: false })).toMatchObject({ deviceId: 'dev-1' });
  });

  it('refuses readings of another device, naming each one that differs', () => {
    const error = caught(() => toDeviceReadings([{ metrics: { t: 1 } }, { deviceId: 'dev-2', metrics: { t: 2 } }], 'dev-1', { nowMs, senml: false }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([{ path: '1.deviceId', message: '"dev-2" differs from the device in the path, "dev-1"' }]);
    const batch = caught(() => toDeviceReadings({ deviceId: 'dev-2', readings: [{ metrics: { t: 1 } }] }, 'dev-1', { nowMs, senml: false }));
    expect((batch as ValidationError).issues).toEqual([{ path: 'deviceId', message: expect.stringContaining('"dev-2"') as unknown }]);
  });

  it('roots every issue path at the prefix (binaryData on the IoT Core path)', () => {
    const error = caught(() => toDeviceReadings({ metrics: {} }, 'dev-1', { nowMs, senml: false, prefix: 'binaryData' }));
    expect((error as ValidationError).issues?.map((i) => i.path)).toEqual(['binaryData.metrics']);
  });

  it('reads an array as SenML when the media type said so', () => {
    const result = toDeviceReadings([{ n: 'temp', u: 'Cel', v: 21.5 }], 'dev-1', { nowMs, senml: true });
    expect(result.readings).toHaveLength(1);
    expect(result.senml).toHaveLength(1);
  });
});
