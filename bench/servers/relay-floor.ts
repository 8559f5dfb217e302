/**
 * The local stack's floor: what a reading costs in `npm start` at the least, in one process and
 * doing no other work. Its one HTTP hop (device → bridge) reads the body, JSON-parses it and
 * answers 202; then the reading is pushed on as the stack's in-process Pub/Sub hands a push to
 * ingest (local/pubsub/deliver.ts): a wrapped Pub/Sub push body built, copied into a buffer and
 * JSON-parsed on the receiving side, on a later turn of the event loop, under a deadline timer. Answers the simulator's
 * `POST /v1/devices:batchCreate` so that `npm run simulate` runs against it unchanged. No
 * authentication, no validation, no journal, no stores: whatever rate this reaches is the most
 * a stack run as one process, as `npm start` runs it, could reach on the same machine.
 * `GET /stats` answers `{"acked": n}`: the pushes the receiving side has taken.
 * Run: `PORT=n node bench/servers/relay-floor.ts`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

function readJson(req: IncomingMessage, then: (value: unknown) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => then(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
}

function answer(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : { 'content-length': 0 });
  res.end(text);
}

let messages = 0;
let acked = 0;

/** The receiving side of a push: the body parsed, as ingest's envelope parser starts. */
function receive(body: Buffer): void {
  const push = JSON.parse(body.toString('utf8')) as { message?: { data?: string } };
  if (typeof push.message?.data === 'string') acked += 1;
}

function push(data: string, deviceId: string): void {
  const [id, at] = [String(++messages), new Date().toISOString()];
  const body = JSON.stringify({
    // Both spellings of each field, as Pub/Sub's push (and the local stack's) sends them.
    message: { data: Buffer.from(data).toString('base64'), attributes: { deviceId }, messageId: id, message_id: id, publishTime: at, publish_time: at },
    subscription: 'projects/local/subscriptions/ingest',
  });
  // As the stack's hand-over: a deadline armed per push and cleared once the receiver answered.
  const deadline = setTimeout(() => undefined, 60_000);
  setImmediate(() => {
    receive(Buffer.from(body));
    clearTimeout(deadline);
  });
}

// Idle keep-alive connections stay as long as the functions keep them (shared/runtime/connection-limits.ts):
// with node's default of 5 s, a device's request could meet a connection the floor had just closed.
createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET') return answer(res, 200, url === '/stats' ? { acked } : {});
  if (url === '/v1/devices:batchCreate') {
    return readJson(req, (value) => {
      const { devices } = value as { devices: { deviceId: string }[] };
      answer(res, 201, { devices: devices.map((d) => ({ deviceId: d.deviceId, credentials: [{ type: 'token', token: 'floor' }] })) });
    });
  }
  const deviceId = /^\/v1\/devices\/([^/]+)\/telemetry$/.exec(url)?.[1] ?? 'unknown';
  readJson(req, (value) => {
    const data = JSON.stringify(value);
    answer(res, 202, { accepted: 1, messageIds: [String(messages + 1)] });
    push(data, deviceId);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
