/**
 * A device fleet at a fixed rate: POSTs one reading per request, spread over the given device
 * tokens, each reading stamped with its send time (epoch ms), for `seconds`. Runs as its own
 * process (pinned by the caller) and prints a JSON summary on stdout. A fixed rate, not a
 * closed loop: a slow server does not slow the senders down, so its latency shows.
 * Run: `node bench/lib/paced-client.ts <bridgeUrl> <rate> <seconds> <deviceId:token>...`.
 */
import { Agent, request } from 'node:http';

const [bridgeUrl = '', rateArg = '1000', secondsArg = '30', ...deviceArgs] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const devices = deviceArgs.map((d) => {
  const [deviceId = '', token = ''] = d.split(':');
  return { deviceId, token };
});
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const latencies: number[] = [];
let sent = 0;
let accepted = 0;
let failed = 0;
let seq = 0;

function postOne(): Promise<void> {
  const device = devices[seq % devices.length] ?? { deviceId: '', token: '' };
  seq += 1;
  const body = JSON.stringify({ ts: Date.now(), seq, metrics: { temperature: 20 + (seq % 100) / 10, humidity: 40 + (seq % 30), ok: true } });
  const started = performance.now();
  sent += 1;
  return new Promise((resolve) => {
    const req = request(
      `${bridgeUrl}/v1/devices/${device.deviceId}/telemetry`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${device.token}`, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - started);
          if (res.statusCode === 202) accepted += 1;
          else failed += 1;
          resolve();
        });
      },
    );
    req.on('error', () => {
      failed += 1;
      resolve();
    });
    req.end(body);
  });
}

const inFlight = new Set<Promise<void>>();
const started = performance.now();
const tickMs = 5;
// Each tick sends what the schedule owes so far, so timer jitter does not lower the rate.
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    const due = Math.min(Math.floor((elapsed / 1000) * rate), Math.floor(seconds * rate));
    while (sent < due) {
      const p = postOne().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (elapsed >= seconds * 1000) {
      clearInterval(timer);
      resolve();
    }
  }, tickMs);
});
await Promise.all(inFlight);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
process.stdout.write(JSON.stringify({ sent, accepted, failed, seconds: (performance.now() - started) / 1000, httpP50Ms: pct(50), httpP99Ms: pct(99) }) + '\n');
agent.destroy();
