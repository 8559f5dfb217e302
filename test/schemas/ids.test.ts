/** Identifier rules (schemas/ids.ts); the functions' 400s for them are test/id-limits.test.ts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeviceId, identifier, isDeviceId, MAX_DEVICE_ID_LENGTH, RegistryId } from '../../schemas/ids.ts';
import { EDGE_STRINGS } from '../support/bad-input.ts';

describe('DeviceId', () => {
  it("follows IoT Core's rule: a letter, then 2 to 254 of letters, digits and -._+~%", () => {
    for (const id of ['dev', 'Dev-1.a_b+c~d%e', `d${'x'.repeat(MAX_DEVICE_ID_LENGTH - 1)}`]) expect(DeviceId.safeParse(id).success, id).toBe(true);
    for (const id of ['de', '1dev', 'dev 1', 'dév', 'dev/1', `d${'x'.repeat(MAX_DEVICE_ID_LENGTH)}`]) expect(DeviceId.safeParse(id).success, id).toBe(false);
  });
});

describe('isDeviceId', () => {
  it('answers as DeviceId does, on edge strings, near-misses and arbitrary text', () => {
    // eslint-disable-next-line no-control-regex -- NUL is one of the near misses
    const nearMiss = fc.stringMatching(/^[a-zA-Z0-9][-a-zA-Z0-9._+~%\u0000 é\ud800/]{0,8}$/);
    const cases: unknown[] = [
      ...EDGE_STRINGS,
      'goog-dev',
      'GOOGdev',
      'gooddev',
      'dev',
      `d${'x'.repeat(MAX_DEVICE_ID_LENGTH - 1)}`,
      `d${'x'.repeat(MAX_DEVICE_ID_LENGTH)}`,
      7,
      null,
    ];
    for (const value of cases) expect(isDeviceId(value), JSON.stringify(value)).toBe(DeviceId.safeParse(value).success);
    let valid = 0;
    fc.assert(
      fc.property(fc.oneof(nearMiss, fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 })), (value) => {
        expect(isDeviceId(value), JSON.stringify(value)).toBe(DeviceId.safeParse(value).success);
        if (isDeviceId(value)) valid++;
      }),
      { numRuns: 5_000 },
    );
    expect(valid).toBeGreaterThan(100);
  });
});

describe('identifier', () => {
  it('refuses empty, overlong, control characters and unpaired surrogates, saying which', () => {
    const id = identifier(5);
    expect(id.safeParse('abc').success).toBe(true);
    const message = (value: string) => {
      const parsed = id.safeParse(value);
      return parsed.success ? undefined : parsed.error.issues[0]?.message;
    };
    expect(message('')).toBe('must not be empty');
    expect(message('abcdef')).toBe('must be at most 5 characters');
    expect(message('a\u0000')).toMatch(/control characters/);
    expect(message('a\u007f')).toMatch(/control characters/);
    expect(message('\uD800')).toMatch(/unpaired UTF-16 surrogates/);
  });

  it('bounds a registry id the same way', () => {
    expect(RegistryId.safeParse('default').success).toBe(true);
    expect(RegistryId.safeParse('').success).toBe(false);
  });
});
