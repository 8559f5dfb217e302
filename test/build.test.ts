/**
 * The production artefact: `npm run build`, then each bundle copied alone into a temporary
 * directory (no node_modules anywhere above it) answers /healthz and exits 0 on SIGTERM,
 * against the real PostgreSQL and the Pub/Sub emulator. What the bundle loads at start-up is
 * read from the bundle itself: the static import graph of index.mjs must not reach the
 * Google clients or the embedded stores.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FUNCTION_NAMES } from '../functions/index.ts';
import { createTestDatabase, type TestDatabase } from './support/kit.ts';
import { freePort, waitFor } from './support/net.ts';
import { makeKey, serveCerts, signToken } from './support/oidc-keys.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'dist');
const built = () => FUNCTION_NAMES.filter((name) => existsSync(path.join(DIST, name, 'index.mjs')));

let database: TestDatabase;
let workDir: string;

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.ts')], { cwd: ROOT, stdio: 'pipe', timeout: 180_000 });
  database = await createTestDatabase();
  // Under the OS temp dir, where no node_modules can be found by walking up.
  workDir = mkdtempSync(path.join(tmpdir(), 'bundle-run-'));
}, 240_000);

afterAll(async () => {
  await database?.drop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Every chunk index.mjs imports statically, transitively: what start-up evaluates. */
function startupChunks(dir: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    // Static imports only (`import ... from "./x.mjs"` / `import "./x.mjs"`), not `import("./x.mjs")`.
    for (const m of source.matchAll(/^import\s+(?:[^'"()]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["'];?$/gm)) visit(path.resolve(path.dirname(file), m[1]!));
  };
  visit(path.join(dir, 'index.mjs'));
  return [...seen];
}

function allChunks(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => path.join(dir, f));
}

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startBundle(dir: string, env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['index.mjs'], {
    cwd: dir,
    // Only what a container would have: no NODE_PATH, no inherited project settings.
    env: { PATH: process.env.PATH ?? '', PORT: String(port), LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${output}`);
      return (await fetch(`${url}/healthz`)).status === 200;
    },
    { timeoutMs: 20_000, what: `${path.basename(dir)} /healthz` },
  );
  return { child, url, output: () => output, exited };
}

function productionEnv(name: string): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    PUBSUB_EMULATOR_HOST: inject('pubsubEmulatorHost'),
    GOOGLE_CLOUD_PROJECT: 'local-project',
    BIGQUERY_DATASET: 'telemetry',
    MIGRATE_ON_START: 'false',
    DATA_DIR: path.join(workDir, `${name}-data`),
    ADMIN_TOKEN: 'bundle-test-admin-token',
  };
}

describe('npm run build', () => {
  it('bundles every function', () => {
    expect(built()).toEqual([...FUNCTION_NAMES]);
  });

  it('keeps the embedded stores out of every bundle, and the Google clients out of start-up', () => {
    for (const name of built()) {
      const dir = path.join(DIST, name);
      for (const file of allChunks(dir)) {
        expect(readFileSync(file, 'utf8'), `${name}/${path.basename(file)}`).not.toMatch(/node_modules\/(@electric-sql\/pglite|@duckdb)\//);
      }
      const startup = startupChunks(dir)
        .map((f) => readFileSync(f, 'utf8'))
        .join('\n');
      expect(startup, name).not.toMatch(/node_modules\/(@google-cloud\/(pubsub|bigquery|cloud-sql-connector)|google-gax|google-auth-library)\//);
    }
  });
});

describe.each(FUNCTION_NAMES)('bundle %s, alone in a directory', (name) => {
  it('answers /healthz and exits 0 on SIGTERM', async () => {
    const dir = path.join(workDir, name);
    cpSync(path.join(DIST, name), dir, { recursive: true });
    expect(existsSync(path.join(dir, 'node_modules'))).toBe(false);
    const started = await startBundle(dir, productionEnv(name));
    const health = await fetch(`${started.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    started.child.kill('SIGTERM');
    expect(await started.exited, started.output()).toBe(0);
  });
});

describe('the readings bundle', () => {
  it('serves the dashboard built into it, with neither esbuild nor the page sources beside it', async () => {
    const dir = path.join(workDir, 'readings-dashboard');
    cpSync(path.join(DIST, 'readings'), dir, { recursive: true });
    const started = await startBundle(dir, productionEnv('readings-dashboard'));
    const page = await fetch(`${started.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    const script = /src="(\/assets\/app\.[0-9a-f]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${started.url}${script ?? ''}`);
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(20_000);
    started.child.kill('SIGTERM');
    expect(await started.exited, started.output()).toBe(0);
  });
});

describe('a production bundle without its stores configured', () => {
  const cases = [
    { name: 'registry', omit: ['DATABASE_URL'], message: /registry cannot start: PostgreSQL: set DATABASE_URL, or INSTANCE_CONNECTION_NAME/ },
    { name: 'ingest', omit: ['BIGQUERY_DATASET'], message: /ingest cannot start: BigQuery: set GOOGLE_CLOUD_PROJECT and BIGQUERY_DATASET/ },
  ] as const;
  for (const { name, omit, message } of cases) {
    it(`${name} without ${omit.join(', ')} refuses to start, naming what to set, instead of passing /healthz`, async () => {
      const dir = path.join(workDir, `${name}-unconfigured`);
      cpSync(path.join(DIST, name), dir, { recursive: true });
      const env = Object.fromEntries(Object.entries(productionEnv(`${name}-unconfigured`)).filter(([key]) => !(omit as readonly string[]).includes(key)));
      const port = await freePort();
      const result = spawnSync(process.execPath, ['index.mjs'], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env },
        encoding: 'utf8',
        timeout: 10_000,
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(message);
    });
  }
});

describe('a production bundle alone with DATABASE_URL', () => {
  it('applies the embedded migrations to an empty database and serves from it', async () => {
    const empty = await createTestDatabase({ migrate: false });
    try {
      const dir = path.join(workDir, 'registry-migrates');
      cpSync(path.join(DIST, 'registry'), dir, { recursive: true });
      const { MIGRATE_ON_START: _default, ...env } = productionEnv('registry-migrates');
      const started = await startBundle(dir, { ...env, DATABASE_URL: empty.url });
      const response = await fetch(`${started.url}/v1/devices`, {
        method: 'POST',
        headers: { authorization: 'Bearer bundle-test-admin-token', 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: 'bundle-migrates-1', credentials: [{ type: 'token' }] }),
      });
      expect(response.status, await response.clone().text()).toBe(201);
      const applied = await empty.db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.rows.map((r) => r.version)).toEqual(
        readdirSync(path.join(ROOT, 'schemas', 'migrations'))
          .filter((f) => f.endsWith('.sql'))
          .sort()
          .map((f) => f.replace(/\.sql$/, '')),
      );
      started.child.kill('SIGTERM');
      expect(await started.exited, started.output()).toBe(0);
    } finally {
      await empty.drop();
    }
  });
});

describe('the registry bundle, with its lighter Express dependencies', () => {
  it('holds no iconv-lite code pages, no unused mime-db fields, and qs behind its lazy stand-in', () => {
    const sources = allChunks(path.join(DIST, 'registry')).map((file) => readFileSync(file, 'utf8'));
    expect(sources.some((source) => source.includes('iconv-lite/encodings/'))).toBe(false);
    expect(sources.some((source) => source.includes('"compressible"'))).toBe(false);
    expect(sources.some((source) => source.includes('lighter-express:node_modules/qs/'))).toBe(true);
  });

  it("reads UTF-8 and UTF-16 bodies with Node's decoder (byte-order mark followed), and refuses a charset it cannot read with 415", async () => {
    const dir = path.join(workDir, 'registry-charsets');
    cpSync(path.join(DIST, 'registry'), dir, { recursive: true });
    const started = await startBundle(dir, productionEnv('registry-charsets'));
    try {
      const post = (body: Buffer, charset: string) =>
        fetch(`${started.url}/v1/devices`, {
          method: 'POST',
          headers: { authorization: 'Bearer bundle-test-admin-token', 'content-type': `application/json; charset=${charset}` },
          body,
        });
      const device = (id: string) => JSON.stringify({ deviceId: id, site: 'Zürich Ω-3', credentials: [{ type: 'token' }] });
      const siteOf = async (response: Response) => {
        expect(response.status, await response.clone().text()).toBe(201);
        return ((await response.json()) as { site: string }).site;
      };
      expect(await siteOf(await post(Buffer.from(device('bundle-charset-utf8')), 'utf-8'))).toBe('Zürich Ω-3');
      expect(await siteOf(await post(Buffer.from(device('bundle-charset-utf16le'), 'utf16le'), 'utf-16le'))).toBe('Zürich Ω-3');
      // Big-endian with its byte-order mark, labelled plain utf-16.
      const bigEndian = Buffer.from('\uFEFF' + device('bundle-charset-utf16be'), 'utf16le').swap16();
      expect(await siteOf(await post(bigEndian, 'utf-16'))).toBe('Zürich Ω-3');
      for (const charset of ['utf-klingon', 'utf-32']) {
        const refused = await post(Buffer.from(device('bundle-charset-refused')), charset);
        expect(refused.status, charset).toBe(415);
        expect(await refused.text()).toContain(charset.toUpperCase());
      }
    } finally {
      started.child.kill('SIGTERM');
      await started.exited;
    }
  });
});

describe('push authentication in a production bundle', () => {
  const key = makeKey('bundle-test-key');
  const pusher = 'telemetry-push@local-project.iam.gserviceaccount.com';
  let certs: Awaited<ReturnType<typeof serveCerts>>;
  beforeAll(async () => {
    certs = await serveCerts([key]);
  });
  afterAll(async () => {
    await certs?.close();
  });

  for (const name of ['ingest', 'deadletter'] as const) {
    it(`${name} answers 401 without a Google-signed token and accepts the push account's`, async () => {
      const dir = path.join(workDir, `${name}-production`);
      cpSync(path.join(DIST, name), dir, { recursive: true });
      const audience = `https://${name}.example/`;
      const started = await startBundle(dir, {
        ...productionEnv(`${name}-production`),
        NODE_ENV: 'production',
        PUSH_AUTH_AUDIENCE: audience,
        PUSH_AUTH_ALLOWED_EMAILS: pusher,
        PUSH_AUTH_CERTS_URL: certs.url,
      });
      const body = JSON.stringify({
        message: { data: Buffer.from('not json').toString('base64'), messageId: `m-${name}`, attributes: {} },
        subscription: 'projects/local-project/subscriptions/s',
      });
      const push = (authorization?: string) =>
        fetch(`${started.url}/`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body });
      expect((await push()).status).toBe(401);
      expect((await push('Bearer a.b.c')).status).toBe(401);
      expect((await push(`Bearer ${signToken(key, { aud: 'https://elsewhere.example/', email: pusher })}`)).status).toBe(401);
      expect((await push(`Bearer ${signToken(key, { aud: audience, email: 'intruder@local-project.iam.gserviceaccount.com' })}`)).status).toBe(403);
      // The push account's token passes verification: what follows is the function's own answer.
      const accepted = await push(`Bearer ${signToken(key, { aud: audience, email: pusher })}`);
      expect(accepted.status, await accepted.text()).toBe(200);
      started.child.kill('SIGTERM');
      expect(await started.exited, started.output()).toBe(0);
    });
  }
});
