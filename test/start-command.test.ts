/**
 * `npm start` as a newcomer meets it: spawned through npm itself, the banner's commands pasted
 * into a POSIX shell (twice: a second paste, as after a restart, must work too, and the state
 * they print must already hold the reading), one summary line instead of a line per request,
 * and Ctrl-C (SIGINT to the whole process group, as a terminal sends it) exits 0.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log.ts';
import { StackState } from '../scripts/stack/state-file.ts';
import { countRequest, formatSummary, summarizeRequests, type RequestCounts } from '../scripts/stack/request-summary.ts';
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
  return lines.slice(from + 1, to).map((l) => l.replace(/^ {2}/, '')).join('\n');
}

describe('npm start', () => {
  it('prints commands that work when pasted again, logs a summary instead of each request, and exits 0 on Ctrl-C', async () => {
    const env = await stackEnv(dataDir, { LOG_LEVEL: 'info' });
    // Its own process group, so that SIGINT reaches npm, the shell and node together.
    const child = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    try {
      await waitFor(async () => {
        const state = StackState.safeParse(JSON.parse(await readFile(join(dataDir, 'stack.json'), 'utf8')));
        return state.success && output.includes('npm run query');
      }, { timeoutMs: 60_000, intervalMs: 200, what: `npm start to print its banner:\n${output}` });

      const commands = bannerCommands(output);
      for (const paste of [1, 2]) {
        const { stdout, stderr } = await promisify(execFile)('sh', ['-c', commands], { timeout: 30_000 });
        expect(stdout, `paste ${paste}: ${stderr}`).toMatch(/"accepted":1/);
        expect(stdout, `paste ${paste}: ${stderr}`).toMatch(/"readingsTotal":1/);
        expect(stdout).toMatch(/"lastMetrics":\{[^}]*"temperature":21\.5/);
      }

      process.kill(-child.pid!, 'SIGINT');
      expect(await exited, output).toBe(0);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    const logLines = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { message: string; summary?: RequestCounts });
    expect(logLines.filter((l) => l.message === 'request'), 'no per-request lines at LOG_LEVEL=info').toEqual([]);
    const summaries = logLines.flatMap((l) => (l.summary ? [l.summary] : []));
    const total = summaries.reduce((sum, s) => sum + s.accepted, 0);
    expect(total).toBe(2);
    expect(summaries.reduce((sum, s) => sum + s.stored, 0)).toBe(2);
  }, 120_000);
});

describe('the request summary', () => {
  it('counts accepted, refused, stored and rejected requests and writes them as one line', () => {
    const counts: RequestCounts = { requests: 0, accepted: 0, readings: 0, refused: 0, stored: 0, rejected: 0, failed: 0 };
    countRequest(counts, { status: 202, outcome: 'accepted', readings: 3 });
    countRequest(counts, { status: 401, outcome: 'unauthenticated' });
    countRequest(counts, { status: 200, form: 'wrapped' });
    countRequest(counts, { status: 200, form: 'wrapped', reason: 'unknown_device' });
    countRequest(counts, { status: 503, form: 'wrapped' });
    countRequest(counts, { status: 200, path: '/v1/devices' });
    expect(counts).toEqual({ requests: 6, accepted: 1, readings: 3, refused: 1, stored: 1, rejected: 1, failed: 1 });
    expect(formatSummary(counts, 10)).toBe('6 requests in 10 s, accepted 1 (3 readings), refused 1, stored 1, rejected 1, 5xx 1');
  });

  it('passes every request line through at LOG_LEVEL=debug, and none at info', () => {
    for (const level of ['debug', 'info']) {
      const lines: string[] = [];
      const summary = summarizeRequests(createLogger({ level, sink: (l) => lines.push(l) }), { intervalMs: 60_000 });
      summary.logger.child({ trace: 't' }).info('request', { status: 202, outcome: 'accepted', readings: 1 });
      summary.logger.info('stack ready');
      summary.stop();
      const messages = lines.map((l) => (JSON.parse(l) as { message: string }).message);
      expect(messages, level).toEqual(level === 'debug' ? ['request', 'stack ready'] : ['stack ready', '1 requests in 60 s, accepted 1 (1 readings), refused 0, stored 0, rejected 0']);
    }
  });
});
