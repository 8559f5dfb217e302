/**
 * The ingest benchmark's load generator, a process of its own that bench/ingest.ts pins to
 * core 1: concurrent wrapped Pub/Sub pushes of one reading each, every push a new message and
 * a new reading (autocannon's CLI can only send one fixed body). Prints one JSON line.
 *
 *   node bench/lib/push-load.ts <url> <connections> <seconds> <devices> <run-id>
 */
import autocannon from 'autocannon';

const [url, connections, seconds, devices, runId] = process.argv.slice(2);
if (!url || !runId) throw new Error('usage: node bench/lib/push-load.ts <url> <connections> <seconds> <devices> <run-id>');
const deviceCount = Number(devices);
const started = Date.now();
let n = 0;
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  requests: [
    {
      setupRequest: (req) => {
        n += 1;
        const data = { ts: new Date(started + n).toISOString(), seq: n, metrics: { temp: 20 + (n % 50) / 10, humidity: 40 + (n % 30), ok: true } };
        const body = JSON.stringify({
          message: {
            data: Buffer.from(JSON.stringify(data)).toString('base64'),
            attributes: { deviceId: `bench-${(n % deviceCount) + 1}` },
            // Both spellings of each field, as Pub/Sub's push sends them.
            messageId: `${runId}-${n}`,
            message_id: `${runId}-${n}`,
            publishTime: new Date().toISOString(),
            publish_time: new Date().toISOString(),
          },
          subscription: 'projects/bench/subscriptions/ingest',
        });
        return { ...req, body };
      },
    },
  ],
});
process.stdout.write(
  `${JSON.stringify({ ok: result['2xx'], non2xx: result.non2xx, errors: result.errors, p50Ms: result.latency.p50, p99Ms: result.latency.p99 })}\n`,
);
