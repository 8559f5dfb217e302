/**
 * shared/config.ts: every environment variable is read there, parsed and checked; a bad value
 * stops start-up with an error naming the variable (and never echoing a secret). The docs'
 * table lists exactly the variables loadConfig reads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every variable name loadConfig asks for, recorded by an environment that has none. */
function variablesRead(): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy<Record<string, string | undefined>>(
    {},
    {
      get(_, name) {
        if (typeof name === 'string') read.add(name);
        return undefined;
      },
    },
  );
  loadConfig(recording);
  return read;
}

describe('loadConfig', () => {
  it('without any variable, gives the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      projectId: 'local-project',
      telemetryTopic: 'telemetry',
      deadLetterTopic: 'telemetry-dead-letter',
      stateTopic: 'device-state',
      logLevel: 'info',
      pgPoolMax: 5,
      production: false,
      migrateOnStart: true,
      cloudSql: { database: 'telemetry', ipType: 'PUBLIC' },
      credentialCacheTtlMs: 5_000,
      configRefreshMs: 1_000,
      ingestBatch: { enabled: true, maxRows: 1000, maxWaitMs: 5, concurrency: 4 },
      port: 8080,
      stackPorts: { bridge: 8080, ingest: 8081, registry: 8082, deadletter: 8083, readings: 8084, internal: 0 },
      pushAuth: { disabled: false, allowedEmails: [] },
    });
    expect(config.googleCloudProject).toBeUndefined();
  });

  it('parses what each variable takes', () => {
    const config = loadConfig({
      GOOGLE_CLOUD_PROJECT: 'p-demo',
      PORT: '0',
      INGEST_PORT: '9091',
      MIGRATE_ON_START: 'FALSE',
      INGEST_GROUP_COMMIT: 'off',
      CLOUD_SQL_IP_TYPE: 'private',
      LOG_LEVEL: 'Warning',
      PG_POOL_MAX: '12',
      PUBSUB_EMULATOR_HOST: '[::1]:8085',
      PUSH_AUTH_DISABLED: 'true',
      PUSH_AUTH_AUDIENCE: ' https://ingest.example/ ',
      PUSH_AUTH_ALLOWED_EMAILS: 'a@p.iam.gserviceaccount.com, b@p.iam.gserviceaccount.com',
      PUSH_AUTH_ISSUERS: 'https://issuer.example',
    });
    expect(config).toMatchObject({
      projectId: 'p-demo',
      googleCloudProject: 'p-demo',
      port: 0,
      migrateOnStart: false,
      ingestBatch: { enabled: false },
      cloudSql: { ipType: 'PRIVATE' },
      logLevel: 'warning',
      pgPoolMax: 12,
      pubsubEmulatorHost: '[::1]:8085',
      pushAuth: {
        disabled: true,
        audience: 'https://ingest.example/',
        allowedEmails: ['a@p.iam.gserviceaccount.com', 'b@p.iam.gserviceaccount.com'],
        issuers: ['https://issuer.example'],
      },
    });
    expect(config.stackPorts.ingest).toBe(9091);
  });

  const bad: Array<[name: string, value: string]> = [
    ['GOOGLE_CLOUD_PROJECT', 'my project'],
    ['TELEMETRY_TOPIC', 'has space'],
    ['DEAD_LETTER_TOPIC', 'goog-topic'],
    ['STATE_TOPIC', 'st'],
    ['BIGQUERY_DATASET', 'project.dataset'],
    ['BIGQUERY_PARTITION_EXPIRATION_DAYS', 'forever'],
    ['DATABASE_URL', 'mysql://db.example/telemetry'],
    ['INSTANCE_CONNECTION_NAME', 'telemetry'],
    ['CLOUD_SQL_IP_TYPE', 'PSC'],
    ['PG_POOL_MAX', 'five'],
    ['PG_POOL_MAX', '0'],
    ['PG_CONNECT_TIMEOUT_MS', '0'],
    ['PG_STATEMENT_TIMEOUT_MS', 'soon'],
    ['MIGRATE_ON_START', 'no'],
    ['READINGS_RETENTION_DAYS', '0'],
    ['REJECTED_RETENTION_DAYS', '2.5'],
    ['LOG_LEVEL', 'loud'],
    ['CREDENTIAL_CACHE_TTL_MS', 'a while'],
    ['CONFIG_REFRESH_MS', '-1'],
    ['INGEST_BATCH_MAX_ROWS', '0'],
    ['INGEST_BATCH_WAIT_MS', 'NaN'],
    ['INGEST_BATCH_CONCURRENCY', '1.5'],
    ['INGEST_GROUP_COMMIT', 'maybe'],
    ['INGEST_FLUSH_TIMEOUT_MS', '30s'],
    ['DEVICE_RATE_LIMIT', 'fast'],
    ['DEVICE_RATE_LIMIT', '0/s'],
    // Past what a timer can wait, node would fire at once: every batch would time out.
    ['INGEST_FLUSH_TIMEOUT_MS', '3000000000'],
    ['PG_STATEMENT_TIMEOUT_MS', '2147483000'],
    ['PG_CONNECT_TIMEOUT_MS', '1e3'],
    ['PUBSUB_EMULATOR_HOST', 'localhost'],
    ['PUBSUB_MIN_BACKOFF_MS', 'fast'],
    ['PUBSUB_MAX_BACKOFF_MS', '601000'],
    ['PUBSUB_MAX_DELIVERY_ATTEMPTS', '4'],
    ['PUSH_AUTH_DISABLED', 'yes'],
    ['PUSH_AUTH_ALLOWED_EMAILS', 'telemetry-push'],
    ['PUSH_AUTH_CERTS_URL', 'ftp://certs.example/'],
    ['MAINTENANCE_AUTH_CERTS_URL', 'certs'],
    ['MAINTENANCE_AUTH_EMAILS', 'scheduler'],
    ['PORT', '80a'],
    ['HOST', 'http://0.0.0.0:80'],
    ['BRIDGE_PORT', '65536'],
    ['INGEST_PORT', 'x'],
    ['REGISTRY_PORT', '-1'],
    ['DEADLETTER_PORT', '8083.5'],
    ['READINGS_PORT', 'eighty'],
    ['STACK_INTERNAL_PORT', '1e3'],
    ['READINGS_STATEMENT_TIMEOUT_MS', '0'],
  ];
  for (const [name, value] of bad) {
    it(`stops start-up naming ${name} for ${JSON.stringify(value)}`, () => {
      expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}\\b`));
    });
  }

  it('refuses a minimum backoff above the maximum, naming both', () => {
    expect(() => loadConfig({ PUBSUB_MIN_BACKOFF_MS: '5000', PUBSUB_MAX_BACKOFF_MS: '1000' })).toThrow(
      /^PUBSUB_MIN_BACKOFF_MS=5000 is more than PUBSUB_MAX_BACKOFF_MS=1000/,
    );
  });

  // Both ends of a pair are named: which one is missing.
  it('names the missing half of the maintenance caller pair', () => {
    expect(() => loadConfig({ MAINTENANCE_AUTH_EMAILS: 'scheduler@p.iam.gserviceaccount.com' })).toThrow(/MAINTENANCE_AUTH_AUDIENCE/);
    expect(() => loadConfig({ MAINTENANCE_AUTH_AUDIENCE: 'https://registry.example' })).toThrow(/MAINTENANCE_AUTH_EMAILS/);
  });

  // Each would start, and then never authenticate anyone: a bearer credential is one token68.
  it.each([
    ['READ_TOKEN', 'Read!Token#2026-xyz'],
    ['ADMIN_TOKEN', 'admin:secret'],
    ['ADMIN_TOKEN', 'pad=ding-in-the-middle'],
  ])('refuses a %s no Authorization header could carry', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}\\b.*letters, digits and - \\. _ ~ \\+ /`));
  });

  it('takes bearer secrets as generated (base64, base64url, hex)', () => {
    const config = loadConfig({ ADMIN_TOKEN: 'q83vEjRWeJA=', READ_TOKEN: 'AbC-_x0123456789abcdef' });
    expect([config.adminToken, config.readToken]).toEqual(['q83vEjRWeJA=', 'AbC-_x0123456789abcdef']);
  });

  const secrets: Array<[name: string, value: string]> = [
    ['ADMIN_TOKEN', 'secret with spaces'],
    ['READ_TOKEN', 'short-secret'],
    ['DATABASE_URL', 'mysql://telemetry:hunter2-password@db.example/telemetry'],
  ];
  for (const [name, value] of secrets) {
    it(`names ${name} without echoing its value`, () => {
      let message = '';
      try {
        loadConfig({ [name]: value });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(new RegExp(`^${name}\\b`));
      expect(message).not.toContain(value);
      expect(message).not.toContain('hunter2');
    });
  }

  it('treats a blank value as unset', () => {
    expect(loadConfig({ PG_POOL_MAX: ' ', HOST: '', PORT: '' })).toMatchObject({ pgPoolMax: 5, port: 8080 });
  });
});

describe('where the environment is read', () => {
  const sources = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => path.join(dir, f));

  it('only shared/config.ts reads process.env in functions/, shared/, local/ and scripts/', () => {
    const readers = ['functions', 'shared', 'local', 'scripts']
      .flatMap(sources)
      .filter((file) => readFileSync(path.join(ROOT, file), 'utf8').includes('process.env'));
    expect(readers).toEqual([path.join('shared', 'config.ts')]);
  });

  it('docs/architecture.md "Configuration" lists every variable loadConfig reads, each once', () => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'architecture.md'), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Configuration'), doc.indexOf('\n## ', doc.indexOf('\n## Configuration') + 1));
    const listed = section
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Za-z][A-Za-z0-9_]+)`/g)].map((m) => m[1] as string));
    expect(listed.length).toBe(new Set(listed).size);
    expect(new Set(listed)).toEqual(variablesRead());
  });
});
