/** Path segments to identifiers (shared/ids.ts); the functions' 400s on the wire are test/id-limits.test.ts. */
import { describe, expect, it } from 'vitest';
import { DevicePathIds } from '../../schemas/ids.ts';
import { ValidationError } from '../../shared/errors.ts';
import { decodePathSegment, parseIds } from '../../shared/ids.ts';

const refusal = (work: () => unknown): ValidationError => {
  try {
    work();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
};

describe('decodePathSegment', () => {
  it('percent-decodes UTF-8', () => {
    expect(decodePathSegment('dev%2Dx%C3%A9', 'deviceId')).toBe('dev-xé');
  });

  it.each(['%', '%zz', '%C3'])('refuses %s with 400 naming the segment', (raw) => {
    expect(refusal(() => decodePathSegment(raw, 'deviceId')).issues).toEqual([{ path: 'deviceId', message: 'is not valid percent-encoded UTF-8' }]);
  });
});

describe('parseIds', () => {
  it('returns identifiers the schema accepts', () => {
    expect(parseIds(DevicePathIds, { deviceId: 'dev-1' })).toEqual({ deviceId: 'dev-1' });
  });

  it('refuses with 400 naming each bad identifier', () => {
    const error = refusal(() => parseIds(DevicePathIds, { deviceId: '1-starts-with-a-digit' }));
    expect(error.status).toBe(400);
    expect(error.issues?.map((i) => i.path)).toEqual(['deviceId']);
  });
});
