/**
 * The official Pub/Sub emulator (Google Cloud CLI component) on a free port, for the test run
 * (test/global-setup.ts) and for benchmarks that publish to it.
 * @see https://cloud.google.com/pubsub/docs/emulator
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, waitFor } from './net.ts';

/** The emulator's launcher: PUBSUB_EMULATOR_LAUNCHER, else where gcloud (or Debian's package) installed it. */
export function pubsubEmulatorLauncher(): string {
  const fromEnv = process.env.PUBSUB_EMULATOR_LAUNCHER;
  if (fromEnv) return fromEnv;
  let sdkRoot = '/usr/lib/google-cloud-sdk';
  try {
    sdkRoot = execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], { encoding: 'utf8', timeout: 20_000 }).trim() || sdkRoot;
  } catch {
    // gcloud missing or slow: fall back to the Debian package's location.
  }
  const launcher = `${sdkRoot}/platform/pubsub-emulator/bin/cloud-pubsub-emulator`;
  if (!existsSync(launcher)) throw new Error(`Pub/Sub emulator launcher not found at ${launcher} (set PUBSUB_EMULATOR_LAUNCHER)`);
  return launcher;
}

export interface RunningEmulator {
  /** `127.0.0.1:<port>`, the value of PUBSUB_EMULATOR_HOST. */
  host: string;
  stop(): void;
}

/** Starts the emulator in its own process group (it forks a JVM) and waits until it answers. */
export async function startPubsubEmulator(): Promise<RunningEmulator> {
  const port = await freePort();
  const emulator = spawn(pubsubEmulatorLauncher(), ['--host=127.0.0.1', `--port=${port}`], { stdio: 'ignore', detached: true });
  const host = `127.0.0.1:${port}`;
  const stop = () => {
    try {
      if (emulator.pid) process.kill(-emulator.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  await waitFor(async () => (await fetch(`http://${host}/`, { signal: AbortSignal.timeout(2_000) })).ok, { timeoutMs: 60_000, what: 'Pub/Sub emulator' }).catch((error: unknown) => {
    stop();
    throw error;
  });
  return { host, stop };
}
