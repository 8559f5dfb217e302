/**
 * The simulator's HTTP client: POSTs over keep-alive connections with node:http. fetch
 * (undici with web streams) cost about twice the CPU per request, and the simulator shares
 * the machine with the stack it loads, so its own cost lowers the figures it measures.
 */
import { Agent, request } from 'node:http';

export interface PostAnswer {
  status: number;
  body: string;
}

/** A network failure: `code` is the system error (ECONNREFUSED, ...) or `timeout`. */
export class PostError extends Error {
  override readonly name = 'PostError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface Poster {
  post(url: string, headers: Record<string, string>, body: string): Promise<PostAnswer>;
  close(): void;
}

/** A client keeping at most `connections` sockets; each request must answer within `timeoutMs`. */
export function createPoster(connections: number, timeoutMs: number): Poster {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  return {
    post: (url, headers, body) =>
      new Promise((resolve, reject) => {
        const payload = Buffer.from(body);
        const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': payload.length }, timeout: timeoutMs }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.once('error', (error) => reject(new PostError('ECONNRESET', error.message, { cause: error })));
        });
        req.once('timeout', () => req.destroy(new PostError('timeout', `no answer from ${url} within ${timeoutMs} ms`)));
        req.once('error', (error: NodeJS.ErrnoException) =>
          reject(error instanceof PostError ? error : new PostError(error.code ?? error.message, error.message, { cause: error })),
        );
        req.end(payload);
      }),
    close: () => agent.destroy(),
  };
}
