/**
 * The official Pub/Sub emulator (gcloud's `cloud-pubsub-emulator`) in a process group of its
 * own, for benchmarks that publish through the production client.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, waitFor } from './net.ts';

export interface RunningEmulator {
  /** `host:port`, as PUBSUB_EMULATOR_HOST takes it. */
  host: string;
  createTopic(projectId: string, topic: string): Promise<void>;
  stop(): void;
}

/** PUBSUB_EMULATOR_LAUNCHER, else the launcher of the installed Cloud SDK. */
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
  if (!existsSync(launcher)) throw new Error(`Pub/Sub emulator launcher not found at ${launcher}; set PUBSUB_EMULATOR_LAUNCHER`);
  return launcher;
}

/** Starts the emulator on a free port, on core `cpu` when given (taskset), and waits for it. */
export async function startPubsubEmulator(options: { cpu?: number } = {}): Promise<RunningEmulator> {
  const port = await freePort();
  const command = [pubsubEmulatorLauncher(), '--host=127.0.0.1', `--port=${port}`];
  const child =
    options.cpu === undefined
      ? spawn(command[0] as string, command.slice(1), { stdio: 'ignore', detached: true })
      : spawn('taskset', ['-c', String(options.cpu), ...command], { stdio: 'ignore', detached: true });
  const host = `127.0.0.1:${port}`;
  const stop = () => {
    try {
      // The launcher is a shell script that starts java: end the whole group.
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  try {
    await waitFor(async () => (await fetch(`http://${host}/`, { signal: AbortSignal.timeout(2_000) })).ok, { timeoutMs: 60_000, what: 'Pub/Sub emulator' });
  } catch (error) {
    stop();
    throw error;
  }
  return {
    host,
    async createTopic(projectId, topic) {
      const response = await fetch(`http://${host}/v1/projects/${projectId}/topics/${topic}`, { method: 'PUT', signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`the emulator refused topic ${topic}: ${response.status} ${await response.text()}`);
    },
    stop,
  };
}
