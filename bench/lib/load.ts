/**
 * The load generator: autocannon's CLI in its own process pinned to core 1, so it never
 * competes with the server under test on core 0.
 * @see https://github.com/mcollina/autocannon#usage
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const AUTOCANNON = join(import.meta.dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  cpu?: number;
}

export interface LoadResult {
  reqPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

interface AutocannonJson {
  requests: { average: number };
  latency: { p50: number; p90: number; p99: number };
  non2xx: number;
  errors: number;
}

/** Runs autocannon for `seconds` and returns req/s and latency percentiles. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const args = [
    '-c',
    String(options.cpu ?? 1),
    process.execPath,
    AUTOCANNON,
    '-j',
    '-c',
    String(options.connections),
    '-d',
    String(options.seconds),
    '-m',
    options.method ?? 'POST',
  ];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}=${value}`);
  if (options.body !== undefined) args.push('-b', options.body);
  args.push(options.url);
  return new Promise((resolve, reject) => {
    execFile('taskset', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(new Error(`autocannon failed: ${error.message}`));
      const r = JSON.parse(stdout) as AutocannonJson;
      resolve({ reqPerSec: r.requests.average, p50Ms: r.latency.p50, p90Ms: r.latency.p90, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
    });
  });
}

/** Resident set size of a process from /proc, in MB. */
export async function readRssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Samples a process's RSS every `everyMs` until stopped; resolves with the peak. */
export function sampleRss(pid: number, everyMs = 250): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    readRssMb(pid).then(
      (mb) => (peak = Math.max(peak, mb)),
      () => undefined,
    );
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
