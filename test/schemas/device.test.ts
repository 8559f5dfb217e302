/** Devices and their credentials as operators send them (schemas/device.ts); the registry's answers are test/registry.test.ts. */
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CreateDevice, CredentialSpec, MAX_CREDENTIALS, MIN_RSA_BITS, PatchDevice, pemLayoutProblem } from '../../schemas/device.ts';
import { generateTestKeyPair } from '../support/devices.ts';
import { makeCertificateKey } from '../support/oidc-keys.ts';

const es = generateTestKeyPair('es256');
const rs = generateTestKeyPair('rs256');
const pem = (key: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer }) => key.export({ type: 'spki', format: 'pem' }).toString();
/** What the key rule says about a PEM uploaded as a key of this type, through the credential schema. */
const keyProblem = (type: 'es256' | 'rs256', publicKeyPem: string) =>
  CredentialSpec.safeParse({ type, publicKeyPem }).error?.issues.find((i) => i.path[0] === 'publicKeyPem')?.message;

describe('the device key rule', () => {
  it('accepts an EC P-256 key for es256 and an RSA key of 2048 bits or more for rs256', () => {
    expect(keyProblem('es256', es.publicKeyPem)).toBeUndefined();
    expect(keyProblem('rs256', rs.publicKeyPem)).toBeUndefined();
  });

  it('says what is wrong with any other key', () => {
    expect(keyProblem('es256', es.privateKeyPem)).toBe('is a private key; upload only the public key');
    expect(keyProblem('es256', 'not a key')).toBe('is not a PEM public key');
    expect(keyProblem('es256', rs.publicKeyPem)).toBe('es256 needs an EC P-256 public key');
    expect(keyProblem('es256', pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey))).toBe('es256 needs an EC P-256 public key');
    expect(keyProblem('rs256', es.publicKeyPem)).toBe('rs256 needs an RSA public key');
    expect(keyProblem('rs256', pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey))).toBe(
      `rs256 needs an RSA key of at least ${MIN_RSA_BITS} bits`,
    );
  });
});

describe('the layout of an uploaded PEM', () => {
  const certificate = makeCertificateKey('pem-layout').publicPem;
  const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();

  it('takes one block of each label the key rule reads, with whitespace around it', () => {
    expect(keyProblem('es256', `\n \n${es.publicKeyPem.replaceAll('\n', '\r\n')}\r\n\t`)).toBeUndefined();
    expect(keyProblem('es256', es.publicKeyPem.trim())).toBeUndefined();
    expect(pkcs1).toMatch(/^-----BEGIN RSA PUBLIC KEY-----/);
    expect(keyProblem('rs256', pkcs1)).toBeUndefined();
    expect(keyProblem('rs256', certificate)).toBeUndefined();
    expect(keyProblem('rs256', certificate.replaceAll(' CERTIFICATE-----', ' X509 CERTIFICATE-----'))).toBeUndefined();
  });

  it('refuses text outside the block', () => {
    const outside = 'has text outside its -----BEGIN/-----END block; upload the block alone';
    expect(keyProblem('es256', `my device key\n${es.publicKeyPem}`)).toBe(outside);
    expect(keyProblem('es256', `${es.publicKeyPem}-- rotated 2026-01-01`)).toBe(outside);
    expect(keyProblem('rs256', `subject=CN = x\n${certificate}`)).toBe(outside);
    expect(pemLayoutProblem(`${es.publicKeyPem}-----END PUBLIC KEY-----\n`)).toBe(outside);
  });

  it('judges no PEM already refused as text', () => {
    const issues = CredentialSpec.safeParse({ type: 'es256', publicKeyPem: `${es.publicKeyPem}\u0000` }).error?.issues;
    expect(issues?.map((i) => [i.path.join('.'), i.message])).toEqual([['publicKeyPem', 'must not contain the NUL character or unpaired UTF-16 surrogates']]);
  });

  it('refuses more than one key, and a private key beside a public one as a private key', () => {
    expect(keyProblem('es256', es.publicKeyPem + generateTestKeyPair('es256').publicKeyPem)).toBe('holds 2 PEM blocks; a credential is one key');
    expect(keyProblem('rs256', rs.publicKeyPem + certificate + pkcs1)).toBe('holds 3 PEM blocks; a credential is one key');
    expect(keyProblem('es256', es.publicKeyPem + es.privateKeyPem)).toBe('is a private key; upload only the public key');
  });
});

describe('the expiry of an uploaded key', () => {
  const NOW = new Date('2026-06-01T12:00:00Z');
  afterEach(() => {
    vi.useRealTimers();
  });
  const expiryIssues = (expiresAt: string) =>
    CredentialSpec.safeParse({ type: 'es256', publicKeyPem: es.publicKeyPem, expiresAt }).error?.issues.map((i) => [i.path.join('.'), i.message]);

  it('refuses a key already expired, up to this very millisecond, and takes one expiring after it', () => {
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    const refused = [['expiresAt', 'is not in the future: the device could never authenticate with this key']];
    expect(expiryIssues('2020-01-01T00:00:00Z')).toEqual(refused);
    expect(expiryIssues('2026-06-01T12:00:00.000Z')).toEqual(refused);
    expect(expiryIssues('2026-06-01T14:00:00+02:00')).toEqual(refused);
    expect(expiryIssues('2026-06-01T12:00:00.001Z')).toBeUndefined();
    expect(expiryIssues('tomorrow')?.map(([path]) => path)).toEqual(['expiresAt']);
  });

  it('is judged beside the key itself, and only on new keys of a PATCH', () => {
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    const bad = CreateDevice.safeParse({
      deviceId: 'dev-1',
      credentials: [{ type: 'rs256', publicKeyPem: es.publicKeyPem, expiresAt: '2026-01-01T00:00:00Z' }],
    });
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['credentials.0.publicKeyPem', 'credentials.0.expiresAt']);
    const patch = PatchDevice.safeParse({
      credentials: [{ credentialId: 'c1' }, { type: 'es256', publicKeyPem: es.publicKeyPem, expiresAt: '2026-01-01T00:00:00Z' }],
    });
    expect(patch.error?.issues.map((i) => i.path.join('.'))).toEqual(['credentials.1.expiresAt']);
  });
});

describe('CreateDevice', () => {
  it('takes a device with token and key credentials', () => {
    const parsed = CreateDevice.parse({
      deviceId: 'dev-1',
      site: 'plant',
      tags: { line: '1' },
      credentials: [{ type: 'token' }, { type: 'es256', publicKeyPem: es.publicKeyPem, expiresAt: '2127-01-01T00:00:00Z' }],
    });
    expect(parsed.credentials[1]).toMatchObject({ type: 'es256', expiresAt: new Date('2127-01-01T00:00:00Z') });
  });

  it('names the key problem under its credential, and refuses too many credentials', () => {
    const bad = CreateDevice.safeParse({ deviceId: 'dev-1', credentials: [{ type: 'token' }, { type: 'rs256', publicKeyPem: es.publicKeyPem }] });
    expect(bad.success ? [] : bad.error.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['credentials.1.publicKeyPem', 'rs256 needs an RSA public key'],
    ]);
    expect(CreateDevice.safeParse({ deviceId: 'dev-1', credentials: Array.from({ length: MAX_CREDENTIALS + 1 }, () => ({ type: 'token' })) }).success).toBe(
      false,
    );
  });
});

describe('PatchDevice', () => {
  it('reads each credential by its form: an id keeps one, anything else is a new spec, issues by index', () => {
    expect(PatchDevice.parse({ site: null, credentials: [{ credentialId: 'c1' }, { type: 'token' }] })).toEqual({
      site: null,
      credentials: [{ credentialId: 'c1' }, { type: 'token' }],
    });
    const bad = PatchDevice.safeParse({ credentials: [{ credentialId: '' }, { type: 'es256', publicKeyPem: 'x' }] });
    expect(bad.success ? [] : bad.error.issues.map((i) => i.path.join('.')).sort()).toEqual(['credentials.0.credentialId', 'credentials.1.publicKeyPem']);
  });
});
