/** Device token secrets: generated, stored as SHA-256, compared in constant time (shared/auth/device-token.ts). */
import { describe, expect, it } from 'vitest';
import { deviceTokenMatches, generateDeviceToken, hashDeviceToken, storedTokenDigest } from '../../../shared/auth/device-token.ts';

describe('device tokens', () => {
  it('are 32 base64url characters (192 random bits), different every time', () => {
    const tokens = new Set(Array.from({ length: 100 }, generateDeviceToken));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('are stored as a prefixed SHA-256 that never contains the token', () => {
    const token = generateDeviceToken();
    const stored = hashDeviceToken(token);
    expect(stored).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(stored).not.toContain(token);
    expect(hashDeviceToken(token)).toBe(stored);
  });

  it('match their stored hash only', () => {
    const token = generateDeviceToken();
    const stored = hashDeviceToken(token);
    expect(deviceTokenMatches(token, stored)).toBe(true);
    expect(deviceTokenMatches(`${token}x`, stored)).toBe(false);
    expect(deviceTokenMatches(token, stored.slice(0, -1))).toBe(false);
    expect(deviceTokenMatches(token, '')).toBe(false);
  });

  it('decode a stored hash to its 32 bytes, and nothing else', () => {
    const token = generateDeviceToken();
    const stored = hashDeviceToken(token);
    expect(storedTokenDigest(stored)?.toString('hex')).toBe(stored.slice('sha256:'.length));
    // A hash the registry never writes (truncated, upper case, another prefix, padded) is no digest.
    for (const bad of [stored.slice(0, -1), stored.toUpperCase(), stored.replace('sha256:', 'sha512:'), `${stored} `, `x${stored}`, '']) {
      expect(storedTokenDigest(bad)).toBeUndefined();
      expect(deviceTokenMatches(token, bad)).toBe(false);
    }
  });
});
