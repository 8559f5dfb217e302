/** `npm run plan` at the wire: the script run by Node as npm runs it, exit codes, output and files. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../scripts/plan/inputs.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'plan-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function plan(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'scripts', 'plan.ts'), ...args],
      {
        cwd: ROOT,
        env: { ...process.env, DATA_DIR: path.join(dir, 'data') },
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run plan', () => {
  it('--help lists every option with its default and exits 0', async () => {
    const r = await plan(['--help']);
    expect(r.code).toBe(0);
    for (const text of [
      '--devices N',
      '--interval DURATION',
      '--readings-per-message K',
      'default 1',
      '--metrics M',
      'default 4',
      '--profile flat|diurnal|FILE',
      '(default)',
      '--target gke|cloud-run',
      'default gke',
      '--retention-days D',
      'default 30',
      '--json',
      '--out FILE',
      'plan.svg',
    ]) {
      expect(r.stdout).toContain(text);
    }
  });

  it('names every bad argument at once and exits 2', async () => {
    const r = await plan(['--devices', '-5', '--interval', 'soon', '--target', 'aws', '--metrics', '0', '--bogus', 'extra']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    for (const text of [
      'unknown option --bogus',
      '--devices must be a whole number',
      '--interval must be a duration',
      'not "soon"',
      '--target must be one of gke, cloud-run, not "aws"',
      '--metrics must be a whole number from 1',
      'unexpected argument extra',
    ]) {
      expect(r.stderr).toContain(text);
    }
    expect(r.stderr).toContain('usage: npm run plan');
  });

  it('requires --devices and --interval', async () => {
    const r = await plan([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--devices is required');
    expect(r.stderr).toContain('--interval is required');
  });

  it('refuses a profile CSV it cannot use, naming the bad lines', async () => {
    const csv = path.join(dir, 'bad.csv');
    writeFileSync(csv, '00:00,1\n99:00,2\n');
    const bad = await plan(['--devices', '10', '--interval', '10s', '--profile', csv]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('line 2');
    const missing = await plan(['--devices', '10', '--interval', '10s', '--profile', path.join(dir, 'nope.csv')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--profile must be flat, diurnal or a readable CSV file');
  });

  it('prints the table and writes the chart to DATA_DIR by default', async () => {
    const r = await plan(['--devices', '100000', '--interval', '10s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Capacity plan: 100,000 devices');
    expect(r.stdout).toContain('Monthly cost ESTIMATE');
    const chart = path.join(dir, 'data', 'plan.svg');
    expect(r.stdout).toContain(`Chart: ${chart}`);
    expect(readFileSync(chart, 'utf8')).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
  });

  it('--json prints the whole plan, --out puts the chart where asked, and a CSV profile is used', async () => {
    const csv = path.join(dir, 'day.csv');
    writeFileSync(csv, 'time,load\n00:00,1\n12:00,2\n');
    const out = path.join(dir, 'charts', 'fleet.svg');
    const r = await plan([
      '--devices',
      '5000',
      '--interval',
      '30s',
      '--readings-per-message',
      '5',
      '--metrics',
      '2',
      '--profile',
      csv,
      '--target',
      'cloud-run',
      '--json',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout) as Record<string, unknown> & {
      inputs: Record<string, unknown>;
      functions: { name: string; instances: { peak: number; mean: number } }[];
      cost: { totalUsd: number; pricesTakenOn: string };
      database: { tier: { maxConnections: number } };
      series: { functions: Record<string, { instances: number[] }> };
      chart: string;
    };
    expect(json.inputs).toMatchObject({
      devices: 5000,
      interval: 30,
      readingsPerMessage: 5,
      metrics: 2,
      profile: 'day.csv',
      target: 'cloud-run',
      retentionDays: 30,
    });
    expect(Object.keys(json)).toEqual(
      expect.arrayContaining(['traffic', 'functions', 'database', 'pubsub', 'bigquery', 'cost', 'series', 'warnings', 'assumptions', 'sources', 'chart']),
    );
    expect(json.functions.map((f) => f.name)).toEqual(expect.arrayContaining(['bridge', 'ingest', 'registry', 'deadletter']));
    expect(json.functions.find((f) => f.name === 'bridge')!.instances.peak).toBeGreaterThanOrEqual(1);
    expect(json.series.functions.bridge!.instances).toHaveLength(1440);
    expect(json.cost.totalUsd).toBeGreaterThan(0);
    expect(json.database.tier.maxConnections).toBe(100);
    expect(json.chart).toBe(out);
    expect(existsSync(out)).toBe(true);
    // Nothing but the chart was written.
    expect(readdirSync(path.dirname(out))).toEqual(['fleet.svg']);
  });
});
