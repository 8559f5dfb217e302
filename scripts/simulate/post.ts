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

/** A network failure: `code` is the system error (ECONNREFUSED, ...), `timeout`, `bad_response` or `response_too_large`. */
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
const CUT_SHORT_CODES = new Set(['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'HPE_INVALID_EOF_STATE']);

/**
 * A client of the bridge at `baseUrl` (an origin, maybe with a path prefix) keeping at most
 * `connections` sockets. Each request has `timeoutMs` from being sent to the last byte of its
 * answer, however the server paces it (undici's own timeouts are per phase, and a body that
 * drips, or 1xx answers one after another, would restart them).
 */
export function createPoster(baseUrl: string, connections: number, timeoutMs: number): Poster {
  const url = new URL(baseUrl);
  // Parts the requests would silently leave out: refused rather than dropped.
  if (url.search || url.hash || url.username || url.password) {
    throw new Error(`bridge URL ${url.origin}${url.pathname}…: a query, fragment or credentials in it would not be sent; give the origin and path only`);
  }
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
        let deadline: NodeJS.Timeout | undefined;
        const settle = () => clearTimeout(deadline);
        const handler: Dispatcher.DispatchHandler = {
          onRequestStart: (controller) => {
            clearTimeout(deadline);
            deadline = setTimeout(() => controller.abort(new PostError('timeout', `no answer from ${where} within ${timeoutMs} ms`)), timeoutMs);
          },
          onResponseStart: (_controller, statusCode) => {
            status = statusCode;
          },
          onResponseData: (controller, chunk) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) controller.abort(new PostError('response_too_large', `${where} answered more than ${MAX_ANSWER_BYTES} bytes`));
            else chunks.push(chunk);
          },
          onResponseEnd: () => {
            settle();
            resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
          },
          onResponseError: (_controller, error) => {
            settle();
            reject(toPostError(error, where, timeoutMs));
          },
        };
        pool.dispatch({ path: `${prefix}${path}`, method: 'POST', headers, body }, handler);
      }),
    close: () => pool.destroy(),
  };
}

/**
 * The code the simulator counts a failure under: the system's (ECONNREFUSED, ENOTFOUND…),
 * `timeout`, `ECONNRESET` for a connection that closed before the whole answer came (as
 * node:http names it), `bad_response` for an answer that is not HTTP.
 */
function toPostError(error: Error, where: string, timeoutMs: number): PostError {
  if (error instanceof PostError) return error;
  const rawCode: unknown = (error as { code?: unknown }).code;
  const code = typeof rawCode === 'string' ? rawCode : undefined;
  const wrap = (name: string, message = `${where}: ${error.message}`) => new PostError(name, message, { cause: error });
  if (code && TIMEOUT_CODES.has(code)) return wrap('timeout', `no answer from ${where} within ${timeoutMs} ms`);
  // A kept-alive connection closed under the request, or an answer cut short by a close.
  if (code && CUT_SHORT_CODES.has(code)) return wrap('ECONNRESET');
  if (code === 'UND_ERR_SOCKET' && /closed/i.test(error.message)) return wrap('ECONNRESET');
  // undici's parser: bytes that are not an HTTP/1.1 answer (its errors carry a code or none).
  if (code === 'UND_ERR_SOCKET' || code?.startsWith('HPE_') || error.name === 'HTTPParserError') return wrap('bad_response');
  return wrap(code ?? error.message);
}
