import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * Ports handed out here lie below Linux's ephemeral range (32768 and up), where the kernel never
 * puts a listener on port 0 or an outgoing connection, and each vitest worker has a slice of its
 * own: a port handed out is not taken by another test between now and the moment its process
 * binds it (with ports from `listen(0)` that happened, and `npm start` found its port in use).
 */
const SLICE_PORTS = 1_200;
const FIRST_PORT = 20_000;
const SLICES = 10;
const slice = (Number(process.env.VITEST_POOL_ID ?? '1') - 1 + SLICES) % SLICES;
const handedOut = new Set<number>();

/** A port nobody listens on right now, and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FIRST_PORT + slice * SLICE_PORTS + Math.floor(Math.random() * SLICE_PORTS);
    if (handedOut.has(port) && handedOut.size < SLICE_PORTS / 2) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${FIRST_PORT + slice * SLICE_PORTS}–${FIRST_PORT + (slice + 1) * SLICE_PORTS - 1}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Polls `check` until it returns true (errors count as false). */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'condition'}${lastError ? `: ${String(lastError)}` : ''}`);
}

/**
 * How many connections to `port` process `pid` has accepted (established TCP sockets it holds
 * a descriptor for; Linux only). A connection still in the kernel's accept queue does not
 * count: closing the listener would reset it.
 */
export function acceptedConnections(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // The descriptor closed while we looked.
    }
  }
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let accepted = 0;
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local address, state 01 = ESTABLISHED, inode
      if (fields[1]?.endsWith(portHex) && fields[3] === '01' && inodes.has(fields[9] ?? '')) accepted += 1;
    }
  }
  return accepted;
}

/**
 * A forward proxy for plain HTTP, as HTTP_PROXY names one: each request line carries the whole
 * target URL, which it records in `proxied` and forwards.
 */
export async function startForwardProxy(): Promise<{ url: string; proxied: string[]; close: () => Promise<void> }> {
  const proxied: string[] = [];
  const server = createHttpServer((req, res) => {
    proxied.push(req.url ?? '');
    const upstream = httpRequest(req.url ?? '', { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    proxied,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A proxy's refusal of a CONNECT, sent without closing the connection. */
export const PROXY_REFUSAL = 'HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n';

/**
 * A proxy that tunnels nothing: it records each request line (a CONNECT, for an https URL) and
 * then says `answer` (nothing, or PROXY_REFUSAL) and keeps the connection open; `sockets` are
 * its side of every connection, to see whether the client let them go.
 */
export async function startStubbornProxy(answer: string): Promise<{ url: string; requests: string[]; sockets: Socket[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.once('data', (chunk) => {
      requests.push(chunk.toString('latin1').split('\r\n')[0] ?? '');
      socket.write(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A raw TCP connection to `url`'s server, once connected, collecting what the server writes back. */
export async function rawConnection(url: string): Promise<{ socket: Socket; closed: Promise<void>; received: () => string }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed, received: () => received };
}
