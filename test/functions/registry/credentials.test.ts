/** Credentials minted for a device and shown to the operator (functions/registry/credentials.ts). */
import { describe, expect, it } from 'vitest';
import { generateCredentialId, mintCredentials, toCredentialResponse } from '../../../functions/registry/credentials.ts';
import { deviceTokenMatches } from '../../../shared/auth/device-token.ts';
import { generateTestKeyPair } from '../../support/devices.ts';

describe('generateCredentialId', () => {
  it('sorts by creation, also within one millisecond', () => {
    const now = Date.UTC(2026, 3, 2);
    const ids = [generateCredentialId(now), generateCredentialId(now), generateCredentialId(now + 1)];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
  });
});

describe('mintCredentials', () => {
  it('stores a token as its hash only, and returns the secret once, by credential id', () => {
    const { rows, tokens } = mintCredentials('dev-1', [{ type: 'token' }]);
    const [row] = rows;
    expect(row).toMatchObject({ device_id: 'dev-1', type: 'token', public_key_pem: null, expires_at: null });
    const token = tokens.get(row!.credential_id);
    expect(deviceTokenMatches(token ?? '', row!.secret_hash ?? '')).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('keeps a public key and its expiry, in the order the specs were given', () => {
    const { publicKeyPem } = generateTestKeyPair('es256');
    const expiresAt = new Date(Date.UTC(2027, 0, 1));
    const { rows, tokens } = mintCredentials('dev-1', [{ type: 'es256', publicKeyPem, expiresAt }, { type: 'token' }]);
    expect(rows[0]).toMatchObject({ type: 'es256', secret_hash: null, public_key_pem: publicKeyPem, expires_at: expiresAt });
    expect(rows.map((r) => r.credential_id).sort()).toEqual(rows.map((r) => r.credential_id));
    expect(tokens.size).toBe(1);
  });
});

describe('toCredentialResponse', () => {
  it('never shows the hash; shows the token only when given it', () => {
    const { rows, tokens } = mintCredentials('dev-1', [{ type: 'token' }]);
    const row = { ...rows[0]!, created_at: new Date(Date.UTC(2026, 3, 2)) };
    expect(toCredentialResponse(row)).toEqual({ credentialId: row.credential_id, type: 'token', expiresAt: null, createdAt: '2026-04-02T00:00:00.000Z' });
    expect(toCredentialResponse(row, tokens).token).toBe(tokens.get(row.credential_id));
    expect(JSON.stringify(toCredentialResponse(row, tokens))).not.toContain(row.secret_hash!);
  });
});
