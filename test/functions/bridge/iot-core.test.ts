/** IoT Core's device API shapes (functions/bridge/iot-core.ts); the IoT Core paths on the wire are test/bridge.test.ts and test/iot-core-devices.test.ts. */
import { describe, expect, it } from 'vitest';
import type { DeviceAuth } from '../../../functions/bridge/credentials-cache.ts';
import { decodePublishEvent, googleErrorResponse, iotCoreAttributes } from '../../../functions/bridge/iot-core.ts';
import { HttpError, TransientError, ValidationError } from '../../../shared/errors.ts';

const device: DeviceAuth = { deviceId: 'dev-1', numId: '42', registry: 'reg-a', blocked: false, tokens: [], keys: [] };

describe('decodePublishEvent', () => {
  it('decodes standard and URL-safe base64 and keeps the subFolder', () => {
    expect(decodePublishEvent({ binaryData: Buffer.from('{"t":1}').toString('base64') })).toEqual({ payload: Buffer.from('{"t":1}') });
    const bytes = Buffer.from([0xfb, 0xff, 0xfe]);
    expect(decodePublishEvent({ binaryData: bytes.toString('base64url'), subFolder: 'alerts' })).toEqual({ payload: bytes, subFolder: 'alerts' });
  });

  it('refuses a body without binaryData with 400 naming it', () => {
    expect(() => decodePublishEvent({})).toThrow(ValidationError);
    try {
      decodePublishEvent({});
    } catch (error) {
      expect((error as ValidationError).issues?.map((i) => i.path)).toContain('binaryData');
    }
  });
});

describe('iotCoreAttributes', () => {
  it('names the device as IoT Core did, with the location and subFolder only when known', () => {
    expect(iotCoreAttributes(device, { project: 'p', location: 'europe-west1', registry: 'reg-b' }, '')).toEqual({
      deviceId: 'dev-1',
      deviceNumId: '42',
      deviceRegistryId: 'reg-b',
      deviceRegistryLocation: 'europe-west1',
      projectId: 'p',
      subFolder: '',
    });
    expect(iotCoreAttributes(device, { project: 'p' })).toEqual({ deviceId: 'dev-1', deviceNumId: '42', deviceRegistryId: 'reg-a', projectId: 'p' });
  });
});

describe('googleErrorResponse', () => {
  it("answers in Google's error shape with the canonical status, each issue a field violation", () => {
    const answer = googleErrorResponse(new ValidationError('bad', [{ path: 'binaryData', message: 'required' }]));
    expect(answer).toMatchObject({ status: 400, code: 'invalid_argument' });
    expect(answer.body.error).toEqual({
      code: 400,
      message: 'bad',
      status: 'INVALID_ARGUMENT',
      details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'binaryData', description: 'required' }] }],
    });
  });

  it.each([
    [new HttpError(401, 'unauthenticated', 'no'), 401, 'UNAUTHENTICATED'],
    [new HttpError(413, 'payload_too_large', 'big'), 413, 'INVALID_ARGUMENT'],
    [new HttpError(418, 'teapot', 'odd'), 418, 'UNKNOWN'],
    [new TransientError('down'), 503, 'UNAVAILABLE'],
    [new Error('boom'), 500, 'INTERNAL'],
  ])('%s → %i %s', (error, status, canonical) => {
    const answer = googleErrorResponse(error);
    expect(answer.status).toBe(status);
    expect(answer.body.error.status).toBe(canonical);
  });
});
