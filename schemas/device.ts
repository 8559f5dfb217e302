/**
 * The registry's wire shapes: what operators send to create and change devices, and what the
 * registry answers. Device ids follow Cloud IoT Core's rule (DeviceId); public keys are
 * checked with node:crypto when they are uploaded, so that a key the bridge could never use
 * is refused at once, with the credential's index in the issue path.
 * @see ../docs/architecture.md
 * @see https://cloud.google.com/iot/docs/how-tos/credentials/keys (IoT Core device keys, retired 2023)
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { RegistryId } from './ids.ts';
import { InitialConfig } from './device-config.ts';
import { queryInteger } from './query-integer.ts';
import { DeviceId, Tags, Text } from './reading.ts';

/** A device holds at most this many credentials (as IoT Core did), so keys can be rotated. */
export const MAX_CREDENTIALS = 3;
/** Devices per batchCreate call. */
export const MAX_BATCH_DEVICES = 10_000;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** RSA keys shorter than this are refused (NIST SP 800-57: 2048 bits minimum). */
export const MIN_RSA_BITS = 2048;

export const CredentialType = z.enum(['token', 'es256', 'rs256']);
export type CredentialType = z.infer<typeof CredentialType>;

/** Registry names (schemas/ids.ts). */
export { RegistryId } from './ids.ts';

export type PublicKeyType = 'es256' | 'rs256';

/**
 * A PEM as a device key of this type, or why it cannot be one: the one rule for device keys,
 * applied by the registry when a key is uploaded and by the bridge when it imports one.
 */
export function importDevicePublicKey(type: PublicKeyType, pem: string): { key: KeyObject } | { problem: string } {
  // createPublicKey would derive the public half of a private key; a private key must never
  // be stored (nor echoed back), so it is refused outright.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return { problem: 'is a private key; upload only the public key' };
  let key;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    return { problem: 'is not a PEM public key' };
  }
  const details = key.asymmetricKeyDetails;
  if (type === 'es256') {
    if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') return { problem: 'es256 needs an EC P-256 public key' };
    return { key };
  }
  if (key.asymmetricKeyType !== 'rsa') return { problem: 'rs256 needs an RSA public key' };
  if ((details?.modulusLength ?? 0) < MIN_RSA_BITS) return { problem: `rs256 needs an RSA key of at least ${MIN_RSA_BITS} bits` };
  return { key };
}

/** A PEM's opening line (RFC 7468); the label is any text without a hyphen. */
const PEM_BEGIN = /-----BEGIN [^\r\n-]*-----/g;
/** One PEM block and nothing but whitespace around it; base64 holds no hyphen. */
const ONE_PEM_BLOCK = /^\s*-----BEGIN ([^\r\n-]*)-----[^-]*-----END \1-----\s*$/;

/**
 * What is wrong with an uploaded PEM around its block, if anything. createPublicKey reads the
 * first block and ignores the rest, so notes around a key, or a second key after it, would be
 * stored and shown as if they were the credential. Checked on upload only: the bridge imports
 * keys stored before this rule with importDevicePublicKey, and they keep working.
 */
export function pemLayoutProblem(pem: string): string | undefined {
  const blocks = pem.match(PEM_BEGIN)?.length ?? 0;
  if (blocks > 1) return `holds ${blocks} PEM blocks; a credential is one key`;
  if (!ONE_PEM_BLOCK.test(pem)) return 'has text outside its -----BEGIN/-----END block; upload the block alone';
  return undefined;
}

/** A token credential: the registry generates the secret and shows it once. */
export const TokenCredentialSpec = z.strictObject({ type: z.literal('token') });

/** A public key the device signs its JWTs with. */
export const PublicKeyCredentialSpec = z
  .strictObject({
    type: z.enum(['es256', 'rs256']),
    publicKeyPem: Text.min(1)
      .max(16_384)
      .meta({ description: 'One PEM block (`PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE` or `X509 CERTIFICATE`), nothing but whitespace around it.' }),
    expiresAt: z.iso
      .datetime({ offset: true })
      .meta({ description: 'When the key stops being accepted; in the future when it is uploaded.' })
      .transform((s) => new Date(s))
      .optional(),
  })
  .superRefine((spec, ctx) => {
    // A PEM already refused as text (a NUL, its length) is not judged as a key as well.
    if (!ctx.issues.some((issue) => issue.path?.[0] === 'publicKeyPem')) {
      const imported = importDevicePublicKey(spec.type, spec.publicKeyPem);
      const problem = 'problem' in imported ? imported.problem : pemLayoutProblem(spec.publicKeyPem);
      if (problem) ctx.addIssue({ code: 'custom', path: ['publicKeyPem'], message: problem });
    }
    // The bridge takes a key only before its expiresAt, so one already past could never be
    // used. Only keys being uploaded are judged: a PATCH may keep a stored key that has expired.
    // (A malformed expiresAt is already named, and reaches here still a string.)
    if (spec.expiresAt instanceof Date && spec.expiresAt.getTime() <= Date.now()) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'is not in the future: the device could never authenticate with this key' });
    }
  });

export const CredentialSpec = z.discriminatedUnion('type', [TokenCredentialSpec, PublicKeyCredentialSpec]);
export type CredentialSpec = z.infer<typeof CredentialSpec>;

/** In a PATCH: keep this existing credential. */
export const KeepCredential = z.strictObject({ credentialId: Text.min(1).max(128) });
export type KeepCredential = z.infer<typeof KeepCredential>;

export type PatchCredential = KeepCredential | CredentialSpec;

/** Parses each PATCH credential by its form: `{credentialId}` keeps one, else a new spec. */
const PatchCredentials = z
  .array(z.unknown())
  .max(MAX_CREDENTIALS, { error: `at most ${MAX_CREDENTIALS} credentials after the change` })
  .transform((items, ctx) => {
    const parsed: PatchCredential[] = [];
    items.forEach((item, index) => {
      const keeps = typeof item === 'object' && item !== null && 'credentialId' in item;
      const result = keeps ? KeepCredential.safeParse(item) : CredentialSpec.safeParse(item);
      if (result.success) parsed.push(result.data);
      else for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', path: [index, ...issue.path], message: issue.message });
    });
    return parsed;
  });

export const Site = Text.min(1).max(256);

/** `POST /v1/devices` and each item of a batchCreate. */
export const CreateDevice = z.strictObject({
  deviceId: DeviceId,
  registry: RegistryId.optional(),
  site: Site.optional(),
  tags: Tags.optional(),
  blocked: z.boolean().optional(),
  credentials: z.array(CredentialSpec).max(MAX_CREDENTIALS, { error: `at most ${MAX_CREDENTIALS} credentials` }),
  /** The device's configuration version 1 (IoT Core's `config.binaryData`); empty when absent. */
  config: InitialConfig.optional(),
});
export type CreateDevice = z.infer<typeof CreateDevice>;

/** `PATCH /v1/devices/{id}`: fields present are replaced; `site: null` clears the site. */
export const PatchDevice = z.strictObject({
  site: Site.nullable().optional(),
  tags: Tags.optional(),
  blocked: z.boolean().optional(),
  credentials: PatchCredentials.optional(),
});
export type PatchDevice = z.infer<typeof PatchDevice>;

/** `POST /v1/devices:batchCreate`: items are parsed one by one, to report each by index. */
export const BatchCreate = z.strictObject({
  devices: z
    .array(z.unknown())
    .min(1)
    .max(MAX_BATCH_DEVICES, { error: `at most ${MAX_BATCH_DEVICES} devices per call` }),
});
export type BatchCreate = z.infer<typeof BatchCreate>;

/** `GET /v1/devices` query string; another parameter is a 400 naming it (a filter it does not have is not silently ignored). */
export const ListDevicesQuery = z.strictObject({
  pageToken: z.string().max(1024).optional(),
  pageSize: queryInteger(z.number().min(1).max(MAX_PAGE_SIZE)).default(DEFAULT_PAGE_SIZE),
});
export type ListDevicesQuery = z.infer<typeof ListDevicesQuery>;

// ---------------------------------------------------------------------------------------
// Responses (camelCase). Secret hashes never appear; a token appears only in the response
// of the request that created it.

const Timestamp = z.iso.datetime();

export const CredentialResponse = z.object({
  credentialId: z.string(),
  type: CredentialType,
  expiresAt: Timestamp.nullable(),
  createdAt: Timestamp,
  publicKeyPem: z.string().optional(),
  token: z.string().optional(),
});
export type CredentialResponse = z.infer<typeof CredentialResponse>;

export const DeviceResponse = z.object({
  deviceId: z.string(),
  numId: z.int(),
  registry: z.string(),
  site: z.string().nullable(),
  tags: z.record(z.string(), z.string()),
  blocked: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  credentials: z.array(CredentialResponse),
});
export type DeviceResponse = z.infer<typeof DeviceResponse>;

export const DeviceListResponse = z.object({
  devices: z.array(DeviceResponse),
  nextPageToken: z.string().optional(),
});
export type DeviceListResponse = z.infer<typeof DeviceListResponse>;

export const BatchCreateResponse = z.object({ devices: z.array(DeviceResponse) });
export type BatchCreateResponse = z.infer<typeof BatchCreateResponse>;

const IssueShape = z.object({ path: z.string(), message: z.string() });

/** One refused item of a batchCreate. */
export const BatchItemError = z.object({
  index: z.int(),
  deviceId: z.string().nullable(),
  issues: z.array(IssueShape),
});
export type BatchItemError = z.infer<typeof BatchItemError>;

/** `GET /v1/devices/{id}/state`: nulls and 0 until the device's first reading is stored. */
export const DeviceStateResponse = z.object({
  deviceId: z.string(),
  lastEventTs: Timestamp.nullable(),
  lastMetrics: z.record(z.string(), z.unknown()).nullable(),
  lastSeenAt: Timestamp.nullable(),
  readingsTotal: z.int(),
});
export type DeviceStateResponse = z.infer<typeof DeviceStateResponse>;
