/**
 * A TCP proxy in front of a real server, which a test can cut (connections reset, new ones
 * refused) and restore: an outage as the client sees it, without stopping the server that
 * other test files share. It can also go silent: every connection, open or new, stays open
 * but no byte passes either way (a failover behind a load balancer, a dropped NAT mapping).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Resets every open connection and refuses new ones. */
  cut(): Promise<void>;
  /**
   * Stops forwarding: open connections stay open and get no reply, new connections are
   * accepted and get none either. Nothing is reset, so only the client's deadlines notice.
   */
  silence(): void;
  /**
   * Accepts and forwards again, on the same port. After `silence`, the connections opened
   * before stay silent for good (as after a dropped NAT mapping); new ones work.
   */
  restore(): Promise<void>;
  /** Connections currently open through the proxy, silent ones included. */
  readonly openConnections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let silent = false;
  /** Pairs opened while forwarding, to freeze when the proxy goes silent. */
  const forwarding = new Set<{ client: Socket; upstream: Socket }>();

  const track = (socket: Socket) => {
    sockets.add(socket);
    const drop = () => {
      socket.destroy();
      sockets.delete(socket);
    };
    socket.on('error', drop).on('close', drop);
  };

  const freeze = (client: Socket, upstream?: Socket) => {
    client.unpipe();
    client.pause();
    if (upstream) {
      upstream.unpipe();
      upstream.pause();
    }
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        track(client);
        if (silent) {
          // Accepted, then nothing: not a byte read or written.
          freeze(client);
          return;
        }
        const upstream = createConnection(target);
        track(upstream);
        const pair = { client, upstream };
        forwarding.add(pair);
        const drop = () => {
          forwarding.delete(pair);
          client.destroy();
          upstream.destroy();
        };
        client.on('close', drop);
        upstream.on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server?.address();
        if (address && typeof address === 'object') port = address.port;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      silent = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
      forwarding.clear();
      if (server) server.close(() => resolve());
      else resolve();
      server = undefined;
    });

  await listen();
  return {
    get port() {
      return port;
    },
    get openConnections() {
      return [...sockets].filter((s) => !s.destroyed).length;
    },
    cut: stop,
    silence() {
      silent = true;
      for (const { client, upstream } of forwarding) freeze(client, upstream);
      forwarding.clear();
    },
    async restore() {
      silent = false;
      if (!server) await listen();
    },
    close: stop,
  };
}
