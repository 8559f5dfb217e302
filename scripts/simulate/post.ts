/**
 * The simulator's HTTP client: POSTs over a pool of keep-alive connections to one bridge,
 * through undici's dispatcher, the layer under fetch. The simulator shares the machine with
 * the stack it loads, so its own cost lowers the figures it measures: node:http's
 * ClientRequest and Agent spent about twice the CPU a request, and fetch (web streams) more
 * (docs/performance.md, Whole local stack).
 * @see https://undici.nodejs.org/#/docs/api/Dispatcher?id=dispatcherdispatchoptions-handler
 */
import { Pool, type Dispatcher } from 'undici';

export interface PostAnswer {
  status: number;
  body: string;
}

/** A network failure: `code` is the system error (ECONNREFUSED, ...), `timeout` or `response_too_large`. */
export class PostError extends Error {
  override readonly name = 'PostError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface Poster {
  /** POSTs to the bridge URL followed by `path` (`/v1/devices/…`). */
  post(path: string, headers: Record<string, string>, body: string): Promise<PostAnswer>;
  /** Ends the connections; call once every post has settled. */
  close(): Promise<void>;
}

/** A bridge answers in a few hundred bytes; more is not a bridge, and is not kept. */
const MAX_ANSWER_BYTES = 1024 * 1024;

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * A client of the bridge at `baseUrl` (an origin, maybe with a path prefix) keeping at most
 * `connections` sockets; a request must connect, then get its answer's headers, then each part
 * of its body, within `timeoutMs` each.
 */
export function createPoster(baseUrl: string, connections: number, timeoutMs: number): Poster {
  const url = new URL(baseUrl);
  const prefix = url.pathname.replace(/\/+$/, '');
  const pool = new Pool(url.origin, {
    connections,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: timeoutMs },
  });
  return {
    post: (path, headers, body) =>
      new Promise((resolve, reject) => {
        const where = `${url.origin}${prefix}${path}`;
        let status = 0;
        let size = 0;
        const chunks: Buffer[] = [];
        const handler: Dispatcher.DispatchHandler = {
          // Its presence marks this handler as the dispatcher's current (non-deprecated) kind.
          onRequestStart: () => {},
          onResponseStart: (_controller, statusCode) => {
            status = statusCode;
          },
          onResponseData: (controller, chunk) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) controller.abort(new PostError('response_too_large', `${where} answered more than ${MAX_ANSWER_BYTES} bytes`));
            else chunks.push(chunk);
          },
          onResponseEnd: () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }),
          onResponseError: (_controller, error) => reject(toPostError(error, where, timeoutMs)),
        };
        pool.dispatch({ path: `${prefix}${path}`, method: 'POST', headers, body }, handler);
      }),
    close: () => pool.destroy(),
  };
}

function toPostError(error: Error, where: string, timeoutMs: number): PostError {
  if (error instanceof PostError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return new PostError('timeout', `no answer from ${where} within ${timeoutMs} ms`, { cause: error });
  // The peer closed the connection before answering: what node:http calls a socket hang up.
  if (code === 'UND_ERR_SOCKET') return new PostError('ECONNRESET', `${where}: ${error.message}`, { cause: error });
  return new PostError(typeof code === 'string' ? code : error.message, `${where}: ${error.message}`, { cause: error });
}
