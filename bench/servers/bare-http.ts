/**
 * Baselines on plain node:http. `bare`: reads the body, JSON-parses it and answers 202, as the
 * least any telemetry endpoint must do. `ack`: a push receiver that acknowledges everything
 * with 204 without parsing. Both answer GET /healthz.
 * Run: `PORT=n node bench/servers/bare-http.ts [bare|ack]`.
 */
import { createServer } from 'node:http';

const mode = process.argv[2] ?? 'bare';
createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' || mode === 'ack') {
      res.writeHead(req.method === 'GET' ? 200 : 204);
      res.end();
      return;
    }
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { metrics?: object };
      const out = JSON.stringify({ accepted: parsed.metrics ? 1 : 0 });
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    } catch {
      res.writeHead(400);
      res.end();
    }
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
