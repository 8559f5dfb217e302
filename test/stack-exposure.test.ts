/**
 * `npm start` keeps to loopback unless HOST says otherwise (its push endpoints have no
 * authentication) and says so in the banner; a configured ADMIN_TOKEN is never echoed; a
 * generated one is kept under DATA_DIR (0600), shown on the first start only, and the same
 * after a restart. A function run alone listens on every interface unless HOST is set.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { functionHost } from '../shared/runtime/main.ts';
import { keepOrGenerateSecret } from '../local/stack/secrets.ts';
import { createTestDatabase, makeScratchDir, type TestDatabase } from './support/kit.ts';
import { stackEnv, startStackProcess, type StackProcess } from './support/stack-process.ts';

let tdb: TestDatabase;
let env: Record<string, string>;
let stack: StackProcess | undefined;

beforeAll(async () => {
  tdb = await createTestDatabase();
  env = await stackEnv(makeScratchDir('stack-exposure-'), { DATABASE_URL: tdb.url, HOST: '', ADMIN_TOKEN: '', LOG_LEVEL: 'error' });
});
afterAll(async () => {
  await stop();
  await tdb?.drop();
});

async function stop(): Promise<void> {
  if (stack && stack.child.exitCode === null) {
    stack.child.kill('SIGTERM');
    await stack.exited;
  }
  stack = undefined;
}

/** This machine's first non-loopback IPv4 address: where another host would connect. */
function externalAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!address) throw new Error('this test needs a non-loopback IPv4 address on the machine');
  return address.address;
}

/** Whether a TCP connection to host:port succeeds. */
const reachable = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const listDevices = (token: string) => fetch(`${stack?.state.urls.registry}/v1/devices`, { headers: { authorization: `Bearer ${token}` } });

describe('npm start', () => {
  it('binds 127.0.0.1 by default, and shows a generated admin token on the first start only, kept 0600 under DATA_DIR', async () => {
    stack = await startStackProcess(env);
    const token = stack.state.adminToken;
    const tokenFile = join(env.DATA_DIR as string, 'secrets', 'admin-token');
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(stack.output()).toContain(`admin token  ${token}`);
    expect(stack.output()).toContain('listening on 127.0.0.1 only');
    expect(stack.output()).not.toContain('WARNING');
    const ingestPort = Number(new URL(stack.state.urls.ingest).port);
    expect(await reachable('127.0.0.1', ingestPort)).toBe(true);
    expect(await reachable(externalAddress(), ingestPort)).toBe(false);
    expect((await listDevices(token)).status).toBe(200);
    await stop();

    stack = await startStackProcess(env);
    expect(stack.state.adminToken).toBe(token);
    expect(stack.output()).not.toContain(token);
    expect(stack.output()).toContain(`kept in ${tokenFile}`);
    expect((await listDevices(token)).status).toBe(200);
    await stop();
  });

  it('never echoes a configured ADMIN_TOKEN, and warns when HOST exposes the stack', async () => {
    stack = await startStackProcess({ ...env, ADMIN_TOKEN: 'configured-admin-secret', HOST: '0.0.0.0' });
    expect(stack.output()).not.toContain('configured-admin-secret');
    expect(stack.output()).toContain('admin token  from ADMIN_TOKEN (not shown)');
    expect(stack.output()).toMatch(/WARNING: listening on HOST=0\.0\.0\.0/);
    expect(await reachable(externalAddress(), Number(new URL(stack.state.urls.ingest).port))).toBe(true);
    expect((await listDevices('configured-admin-secret')).status).toBe(200);
    await stop();
  });
});

describe('HOST and kept secrets', () => {
  it('a function run alone listens on every interface unless HOST is set', () => {
    expect(functionHost(loadConfig({}))).toBe('0.0.0.0');
    expect(functionHost(loadConfig({ HOST: '127.0.0.1' }))).toBe('127.0.0.1');
  });

  it('refuses a HOST that is no address or host name, naming it', () => {
    expect(() => loadConfig({ HOST: 'http://0.0.0.0:80' })).toThrow(/HOST=http:\/\/0\.0\.0\.0:80/);
    expect(() => loadConfig({ PG_STATEMENT_TIMEOUT_MS: 'soon' })).toThrow(/PG_STATEMENT_TIMEOUT_MS=soon/);
  });

  it('generates a secret once and keeps it for every later caller, concurrent ones included', async () => {
    for (let round = 0; round < 40; round++) {
      const dir = makeScratchDir('secrets-');
      const first = await Promise.all(Array.from({ length: 8 }, () => keepOrGenerateSecret(dir, 'read-token')));
      expect(new Set(first.map((s) => s.value)).size).toBe(1);
      expect(first.filter((s) => s.generated)).toHaveLength(1);
      const again = await keepOrGenerateSecret(dir, 'read-token');
      expect(again).toEqual({ value: first[0]?.value, generated: false, path: join(dir, 'secrets', 'read-token') });
      expect(readdirSync(join(dir, 'secrets'))).toEqual(['read-token']);
      expect(statSync(again.path).mode & 0o777).toBe(0o600);
    }
  });

  it('never lets another process see the secret file before its secret is in it', async () => {
    // A loser of the race once read the winner's file between its creation and its write and
    // found it empty (one CI run in twenty). Another process reads the path in a tight loop
    // while the secret is generated, removed and generated again.
    const dir = makeScratchDir('secrets-watched-');
    const path = join(dir, 'secrets', 'admin-token');
    const stop = join(dir, 'stop');
    const watcher = spawn(process.execPath, ['-e', WATCH_FOR_EMPTY, path, stop], { stdio: ['ignore', 'pipe', 'inherit'] });
    let report = '';
    watcher.stdout.on('data', (chunk: Buffer) => (report += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => watcher.on('exit', resolve));
    try {
      // The watcher writes a space once it is reading; an early exit ends the wait too.
      await Promise.race([new Promise((resolve) => watcher.stdout.once('data', resolve)), exited]);
      for (let round = 0; round < 300; round++) {
        await keepOrGenerateSecret(dir, 'admin-token');
        rmSync(path);
      }
    } finally {
      writeFileSync(stop, '');
    }
    expect(await exited).toBe(0);
    const { empty, whole } = JSON.parse(report.trim()) as { empty: number; whole: number };
    expect(whole).toBeGreaterThan(0);
    expect(empty).toBe(0);
  });
});

/** Reads argv[1] until argv[2] exists; prints how often it found the file empty and whole. */
const WATCH_FOR_EMPTY = `
const fs = require('node:fs');
const [path, stop] = process.argv.slice(1);
let empty = 0, whole = 0;
process.stdout.write(' ');
while (!fs.existsSync(stop)) {
  try { fs.readFileSync(path, 'utf8') === '' ? empty++ : whole++; } catch {}
}
process.stdout.write(JSON.stringify({ empty, whole }));
`;
