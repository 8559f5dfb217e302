/**
 * `npm start` as a newcomer meets it: spawned through npm itself, the banner's commands pasted
 * into a POSIX shell (twice: a second paste, as after a restart, must work too, and the state
 * they print must already hold the reading), `npm run simulate`'s failures against it, one
 * summary line instead of a line per request, and Ctrl-C (SIGINT to the whole process group,
 * as a terminal sends it) exits 0. How the summary counts: test/local/stack/request-summary.test.ts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StackState } from '../local/stack/state-file.ts';
import type { RequestCounts } from '../local/stack/request-summary.ts';
import { stackEnv } from './support/stack-process.ts';
import { waitFor } from './support/net.ts';

const ROOT = join(import.meta.dirname, '..');
const dataDir = await mkdtemp(join(tmpdir(), 'start-command-'));

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** The banner's shell commands: from its "Create a device" line up to `npm run query`. */
function bannerCommands(output: string): string {
  const lines = output.split('\n');
  const from = lines.findIndex((l) => l.startsWith('Create a device'));
  const to = lines.findIndex((l, i) => i > from && l.includes('npm run query'));
  expect(from, output).toBeGreaterThan(-1);
  return lines
    .slice(from + 1, to)
    .map((l) => l.replace(/^ {2}/, ''))
    .join('\n');
}

/** A script run as `node scripts/<name>.ts` against this stack's DATA_DIR. */
function runScript(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('npm start', () => {
  let child: ChildProcess;
  let output = '';
  let exited: Promise<number | string>;

  beforeAll(async () => {
    const env = await stackEnv(dataDir, { LOG_LEVEL: 'info' });
    // Its own process group, so that SIGINT reaches npm and the node it execs together.
    child = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    await waitFor(
      async () => {
        const state = StackState.safeParse(JSON.parse(await readFile(join(dataDir, 'stack.json'), 'utf8')));
        return state.success && output.includes('npm run query');
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `npm start to print its banner:\n${output}` },
    );
  }, 90_000);

  afterAll(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });

  it('prints commands that work when pasted again and show the stored reading', async () => {
    const commands = bannerCommands(output);
    for (const paste of [1, 2]) {
      const { stdout, stderr } = await promisify(execFile)('sh', ['-c', commands], { timeout: 30_000 });
      expect(stdout, `paste ${paste}: ${stderr}`).toMatch(/"accepted":1/);
      expect(stdout, `paste ${paste}: ${stderr}`).toMatch(/"readingsTotal":1/);
      expect(stdout).toMatch(/"lastMetrics":\{[^}]*"temperature":21\.5/);
    }
  }, 60_000);

  it('simulate --verify fails, naming each refusal, when the bridge cannot be reached', async () => {
    const run = await runScript('scripts/simulate.ts', ['--bridge', 'http://127.0.0.1:9', '--devices', '2', '--rate', '5', '--duration', '1', '--verify']);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    // Port 9 is one fetch refuses to use ("bad port"); either way the cause is named.
    expect(run.stdout).toMatch(/refused \d+: \d+ × network (bad port|ECONNREFUSED)/);
    expect(run.stdout).toMatch(/NOT verified: \d+ of \d+ requests refused .*nothing was accepted/);
    expect(run.stdout).not.toMatch(/^verified/m);
    expect(run.stdout + run.stderr).not.toMatch(/TypeError|usage/);
  }, 60_000);

  it('simulate refuses a bridge URL with credentials before it registers any device, and does not print them', async () => {
    const state = StackState.parse(JSON.parse(await readFile(join(dataDir, 'stack.json'), 'utf8')));
    const deviceCount = async () => {
      const response = await fetch(`${state.urls.registry}/v1/devices?pageSize=1000`, { headers: { authorization: `Bearer ${state.adminToken}` } });
      expect(response.status).toBe(200);
      return ((await response.json()) as { devices: unknown[] }).devices.length;
    };
    const before = await deviceCount();
    const run = await runScript('scripts/simulate.ts', ['--bridge', 'http://user:s3cret@127.0.0.1:9', '--devices', '3', '--duration', '1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/bridge URL http:\/\/127\.0\.0\.1:9\/…: a query, fragment or credentials in it would not be sent/);
    expect(run.stdout + run.stderr).not.toContain('s3cret');
    expect(await deviceCount()).toBe(before);
  }, 60_000);

  it('simulate with a wrong admin token says the registry refused it', async () => {
    const run = await runScript('scripts/simulate.ts', ['--admin-token', 'not-the-token', '--devices', '1', '--duration', '1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/refused the admin token \(401\)/);
    expect(run.stderr).not.toMatch(/usage/);
  }, 60_000);

  it('logs a summary instead of each request, and exits 0 on Ctrl-C after draining', async () => {
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited, output).toBe(0);
    const logLines = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { message: string; summary?: RequestCounts });
    expect(
      logLines.filter((l) => l.message === 'request'),
      'no per-request lines at LOG_LEVEL=info',
    ).toEqual([]);
    const summaries = logLines.flatMap((l) => (l.summary ? [l.summary] : []));
    expect(summaries.reduce((sum, s) => sum + s.accepted, 0)).toBe(2);
    expect(summaries.reduce((sum, s) => sum + s.stored, 0)).toBe(2);
  }, 60_000);
});
