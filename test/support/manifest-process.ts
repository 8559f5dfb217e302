/**
 * A function in a process of its own, run as its Knative manifest runs it: the manifest's
 * `NODE_OPTIONS` and container Node flags, so the heap it gets in production. For tests of what
 * a function does at the edge of that heap (a burst of the largest requests), where running out
 * must fail the test, not the test runner.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { manifestRuntime } from '../../bench/lib/manifest.ts';
import { freePort, waitFor } from './net.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ManifestProcess {
  url: string;
  /** What the process wrote to stderr so far (a fatal heap error, say). */
  errors(): string;
  stop(): Promise<void>;
}

/** Starts `node <args>` (from the project's root) as `fn`'s manifest runs it, with `env`, once its /healthz answers 200. */
export async function startManifestProcess(fn: string, args: string[], env: Record<string, string>): Promise<ManifestProcess> {
  const runtime = manifestRuntime(fn);
  const port = await freePort();
  const child = spawn(process.execPath, [...runtime.nodeFlags, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: runtime.nodeOptions, PORT: String(port), LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errors = '';
  child.stderr.on('data', (c: Buffer) => (errors += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 30_000, what: `${fn} /healthz` });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, errors: () => errors, stop };
}

/**
 * The bridge from source as its manifest runs it, publishing to a topic of its own on the
 * official emulator at `emulatorHost`, its devices in `databaseUrl`.
 */
export async function startManifestBridge(emulatorHost: string, databaseUrl: string, project = 'local-project'): Promise<ManifestProcess> {
  const topic = `telemetry-${randomBytes(4).toString('hex')}`;
  const created = await fetch(`http://${emulatorHost}/v1/projects/${project}/topics/${topic}`, { method: 'PUT' });
  if (created.status !== 200) throw new Error(`the emulator refused topic ${topic}: ${created.status} ${await created.text()}`);
  return startManifestProcess('bridge', ['scripts/serve.ts', 'bridge'], {
    DATABASE_URL: databaseUrl,
    GOOGLE_CLOUD_PROJECT: project,
    PUBSUB_EMULATOR_HOST: emulatorHost,
    TELEMETRY_TOPIC: topic,
  });
}

/** The largest telemetry body of small metrics under the bridge's 256 KiB: 83 readings of 256 metrics (259 KB). */
export function largestTelemetryBody(): string {
  const metrics = Object.fromEntries(Array.from({ length: 256 }, (_, k) => [`m${k}`, k + 0.5]));
  return JSON.stringify(Array.from({ length: 83 }, () => ({ metrics })));
}
