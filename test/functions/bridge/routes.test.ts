/** The bridge's device paths, ours and IoT Core's (functions/bridge/routes.ts). */
import { describe, expect, it } from 'vitest';
import { isIotCorePath, matchRoute } from '../../../functions/bridge/routes.ts';
import { HttpError } from '../../../shared/errors.ts';

const IOT = '/v1/projects/p-1/locations/europe-west1/registries/reg-1/devices/dev-1';

const refusal = (method: string, path: string): HttpError => {
  try {
    matchRoute(method, path);
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error(`expected ${method} ${path} to be refused`);
};

describe('matchRoute', () => {
  it.each([
    ['POST', '/v1/devices/dev-1/telemetry', { kind: 'telemetry', iot: false, deviceId: 'dev-1' }],
    ['GET', '/v1/devices/dev-1/config/', { kind: 'config', iot: false, deviceId: 'dev-1' }],
    ['POST', '/v1/devices/dev%2D1/state', { kind: 'state', iot: false, deviceId: 'dev-1' }],
    ['POST', `${IOT}:publishEvent`, { kind: 'publishEvent', iot: true, deviceId: 'dev-1', project: 'p-1', location: 'europe-west1', registry: 'reg-1' }],
    ['POST', `${IOT}:setState`, { kind: 'setState', iot: true, deviceId: 'dev-1' }],
    ['GET', `${IOT}/config`, { kind: 'config', iot: true, deviceId: 'dev-1' }],
  ])('%s %s', (method, path, route) => {
    expect(matchRoute(method, path)).toMatchObject(route);
  });

  it('answers 404 for another path, 405 with Allow for another method', () => {
    expect(refusal('POST', '/v1/devices/dev-1/other')).toMatchObject({ status: 404 });
    expect(refusal('POST', `${IOT}:unknownVerb`)).toMatchObject({ status: 404 });
    expect(refusal('GET', '/v1/devices/dev-1/telemetry')).toMatchObject({ status: 405, headers: { Allow: 'POST' } });
    expect(refusal('POST', `${IOT}/config`)).toMatchObject({ status: 405, headers: { Allow: 'GET' } });
  });

  it('answers 400 naming an id no device can have, or a malformed escape', () => {
    expect(refusal('POST', '/v1/devices/1x/telemetry')).toMatchObject({ status: 400, issues: [{ path: 'deviceId' }] });
    expect(refusal('POST', '/v1/devices/dev%zz/telemetry')).toMatchObject({
      status: 400,
      issues: [{ path: 'deviceId', message: 'is not valid percent-encoded UTF-8' }],
    });
  });
});

describe('isIotCorePath', () => {
  it("recognises IoT Core paths even when malformed, so their errors take Google's shape", () => {
    expect(isIotCorePath(`${IOT}:publishEvent`)).toBe(true);
    expect(isIotCorePath('/v1/projects/whatever')).toBe(true);
    expect(isIotCorePath('/v1/devices/dev-1/telemetry')).toBe(false);
  });
});
