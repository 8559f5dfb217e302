import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTokenMatches } from '../shared/auth/device-token.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { createDevice, generateTestKeyPair } from './support/devices.ts';

describe('test/support/devices createDevice', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('stores a device with a hashed token and public keys', async () => {
    const es = generateTestKeyPair('es256');
    const rs = generateTestKeyPair('rs256');
    const device = await createDevice(t.db, {
      deviceId: 'helper-1',
      site: 'plant-a',
      tags: { line: '3' },
      token: true,
      publicKeys: [
        { type: 'es256', pem: es.publicKeyPem },
        { type: 'rs256', pem: rs.publicKeyPem, expiresAt: '2030-01-01T00:00:00Z' },
      ],
    });
    expect(device.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(device.numId).toBeGreaterThan(0);
    const creds = await t.db.query<{ type: string; secret_hash: string | null; public_key_pem: string | null; expires_at: Date | null }>(
      'SELECT type, secret_hash, public_key_pem, expires_at FROM device_credentials WHERE device_id = $1 ORDER BY type',
      ['helper-1'],
    );
    expect(creds.rows.map((r) => r.type)).toEqual(['es256', 'rs256', 'token']);
    const tokenRow = creds.rows[2];
    expect(deviceTokenMatches(device.token ?? '', tokenRow?.secret_hash ?? '')).toBe(true);
    expect(creds.rows[1]?.expires_at?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });

  it('stores a blocked device without credentials', async () => {
    const device = await createDevice(t.db, { deviceId: 'helper-2', blocked: true });
    expect(device.token).toBeUndefined();
    const row = await t.db.query<{ blocked: boolean; registry: string }>('SELECT blocked, registry FROM devices WHERE device_id = $1', ['helper-2']);
    expect(row.rows[0]).toEqual({ blocked: true, registry: 'default' });
  });
});
