/**
 * `npm start` with the tools around it: `npm run simulate --verify` in every style (tokens,
 * SenML, IoT Core ES256 JWTs) against a spawned stack, the internal API's admin-token check,
 * `npm run query`'s errors, and its read-only fallback once the stack has stopped.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './support/net.ts';
import { runQueryScript, stackEnv, startStackProcess, type StackProcess } from './support/stack-process.ts';

const ROOT = join(import.meta.dirname, '..');
const dataDir = await mkdtemp(join(tmpdir(), 'stack-'));
let stack: StackProcess;

function runScript(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

beforeAll(async () => {
  stack = await startStackProcess(await stackEnv(dataDir));
}, 60_000);
afterAll(async () => {
  if (stack.child.exitCode === null) {
    stack.child.kill('SIGKILL');
    await stack.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start with simulate and query', () => {
  it('simulates devices in every style and verifies every accepted reading in both stores', async () => {
    const run = await runScript('scripts/simulate.ts', ['--devices', '8', '--rate', '80', '--duration', '2', '--style', 'mixed', '--verify']);
    expect(run.stderr).not.toMatch(/simulate failed/);
    expect(run.stdout).toMatch(/refused 0/);
    expect(run.stdout).toMatch(/verified: all \d+ accepted readings are in PostgreSQL and the warehouse/);
    expect(run.code).toBe(0);
    const styles = await runQueryScript(dataDir, "SELECT count(DISTINCT device_id) AS devices FROM measurements WHERE device_id LIKE 'sim-%'");
    expect(Number(styles[0]?.devices)).toBe(8);
    // The stack's own ingest took every push in process: none went over loopback HTTP.
    const statsNow = async () =>
      (await (await fetch(`${stack.state.internalUrl}/internal/stats`, { headers: { authorization: `Bearer ${stack.state.adminToken}` } })).json()) as {
        acked: number;
        nacked: number;
        inFlight: number;
        handedOver: number;
      };
    await waitFor(async () => (await statsNow()).inFlight === 0);
    const stats = await statsNow();
    expect(stats.acked).toBeGreaterThan(0);
    // Every attempt, answered or refused, was a hand-over.
    expect(stats.handedOver).toBe(stats.acked + stats.nacked);
  }, 60_000);

  it('refuses a bad flag with the reason and the usage', async () => {
    const run = await runScript('scripts/simulate.ts', ['--style', 'carrier-pigeon']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--style must be one of reading, batch, senml, iotcore, mixed/);
  });

  it('keeps the internal API behind the admin token', async () => {
    const response = await fetch(`${stack.state.internalUrl}/internal/query`, { method: 'POST', body: '{"sql":"SELECT 1"}' });
    expect(response.status).toBe(401);
  });

  it('reports a SQL error and exits 1', async () => {
    const run = await runScript('scripts/query.ts', ['SELECT no_such_column FROM measurements']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no_such_column/);
  });

  it('stops on SIGTERM with exit 0, then query reads the warehouse file directly', async () => {
    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
    expect(existsSync(join(dataDir, 'stack.json'))).toBe(false);
    const run = await runScript('scripts/query.ts', ["SELECT count(*) AS n FROM measurements WHERE device_id LIKE 'sim-%'"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\s*n\n─+\n\s*\d+\n\(1 row\)/);
  });
});
