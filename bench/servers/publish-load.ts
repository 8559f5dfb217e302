/**
 * One round of the `publisher` benchmark, in a process of its own (pinned by the caller):
 * `concurrency` publishers each publish a bridge-sized message through
 * shared/pubsub/google-publisher.ts and, once it is acknowledged, the next one (a closed loop, as
 * the bridge's connections are), until `messages` were acknowledged. Prints one JSON line: CPU
 * µs a message (user + system, every thread of the process) and messages a second.
 *
 *   node bench/servers/publish-load.ts <grpc|client> <emulator host:port> <project> <messages> <concurrency>
 */
import { createPubsubPublisher, type PublishTransport } from '../../shared/pubsub/google-publisher.ts';

const [transport, emulatorHost, projectId, messagesArg, concurrencyArg] = process.argv.slice(2);
if (transport !== 'grpc' && transport !== 'client') throw new Error(`transport must be grpc or client, not ${String(transport)}`);
if (!emulatorHost || !projectId) throw new Error('usage: publish-load.ts <grpc|client> <host:port> <project> <messages> <concurrency>');
const total = Number(messagesArg);
const concurrency = Number(concurrencyArg);

const publisher = createPubsubPublisher({ projectId, emulatorHost, transport: transport satisfies PublishTransport });
const data = Buffer.from(
  JSON.stringify({
    deviceId: 'bench-device-0001',
    readings: [{ ts: '2026-11-28T16:00:00.000Z', seq: 1, metrics: { temperature: 21.5, humidity: 40.25, pressure: 1013.2, battery: 3.71 } }],
  }),
);
const attributes = { deviceId: 'bench-device-0001', registry: 'bench', schemaVersion: '1', receivedAt: '2026-11-28T16:00:00.010Z' };

/** Publishes `count` messages from `concurrency` closed loops. */
async function publishAll(count: number): Promise<void> {
  let started = 0;
  const loop = async () => {
    while (started < count) {
      started++;
      await publisher.publish('telemetry', data, attributes);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

// Connects, and lets the JIT settle on the hot path before anything is counted.
await publishAll(Math.min(5_000, total));
const cpuBefore = process.cpuUsage();
const startedAt = performance.now();
await publishAll(total);
const seconds = (performance.now() - startedAt) / 1000;
const cpu = process.cpuUsage(cpuBefore);
await publisher.close();
console.log(JSON.stringify({ cpuUsPerMessage: (cpu.user + cpu.system) / total, messagesPerSec: total / seconds }));
