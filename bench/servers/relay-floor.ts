/**
 * The local stack's floor: the same two HTTP hops per reading as `npm start` (device → bridge,
 * bridge's Pub/Sub → ingest, in one process, keep-alive connections), doing no other work. The
 * bridge side reads the body, JSON-parses it and answers 202; then it pushes a wrapped Pub/Sub
 * message to the ingest side over node:http, which reads and JSON-parses it and answers 204.
 * Answers the simulator's `POST /v1/devices:batchCreate` so that `npm run simulate` runs
 * against it unchanged. No authentication, no validation, no journal, no stores: whatever rate
 * this reaches is the most a stack run as one process, as `npm start` runs it, could reach on
 * the same machine. `GET /stats` answers `{"acked": n}`: the pushes ingest's side has answered.
 * Run: `PORT=n node bench/servers/relay-floor.ts`.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const agent = new Agent({ keepAlive: true, maxSockets: 400, maxFreeSockets: 400 });

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

const ingest = createServer((req, res) => readJson(req, () => answer(res, 204)));
ingest.listen(0, '127.0.0.1');
await new Promise((resolve) => ingest.once('listening', resolve));
const ingestPort = (ingest.address() as AddressInfo).port;

let messages = 0;
let acked = 0;
function push(data: string, deviceId: string): void {
  const [id, at] = [String(++messages), new Date().toISOString()];
  send(
    JSON.stringify({
      // Both spellings of each field, as Pub/Sub's push (and the local stack's) sends them.
      message: { data: Buffer.from(data).toString('base64'), attributes: { deviceId }, messageId: id, message_id: id, publishTime: at, publish_time: at },
      subscription: 'projects/local/subscriptions/ingest',
    }),
  );
}

/**
 * Posts one push; a push that fails (a kept-alive connection the other side closed as it was
 * reused) goes again, as the stack's push delivery retries, so every accepted reading is answered.
 */
function send(body: string): void {
  let settled = false;
  const again = () => {
    if (settled) return;
    settled = true;
    setTimeout(() => send(body), 10);
  };
  const req = request(
    {
      host: '127.0.0.1',
      port: ingestPort,
      path: '/',
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    },
    (res) => {
      res.resume();
      res.once('end', () => {
        if (res.statusCode !== 204) return again();
        settled = true;
        acked += 1;
      });
      // An answer cut off midway ends without 'end': the push goes again.
      res.once('close', () => {
        if (!res.complete) again();
      });
    },
  );
  req.on('error', again);
  req.end(body);
}

createServer((req, res) => {
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
