/** Identifier rules (schemas/ids.ts); the functions' 400s for them are test/id-limits.test.ts. */
import { describe, expect, it } from 'vitest';
import { DeviceId, identifier, MAX_DEVICE_ID_LENGTH, RegistryId } from '../../schemas/ids.ts';

describe('DeviceId', () => {
  it("follows IoT Core's rule: a letter, then 2 to 254 of letters, digits and -._+~%", () => {
    for (const id of ['dev', 'Dev-1.a_b+c~d%e', `d${'x'.repeat(MAX_DEVICE_ID_LENGTH - 1)}`]) expect(DeviceId.safeParse(id).success, id).toBe(true);
    for (const id of ['de', '1dev', 'dev 1', 'dév', 'dev/1', `d${'x'.repeat(MAX_DEVICE_ID_LENGTH)}`]) expect(DeviceId.safeParse(id).success, id).toBe(false);
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
