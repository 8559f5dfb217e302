/**
 * tabledata.insertAll requests over kept-open connections, with the BigQuery client's own
 * credentials. The client's request path (its request wrapper, retry module and fetch shim)
 * cost more CPU a request than the rows it carried took to encode: ingest spent a tenth of its
 * time there at ~10,000 readings/s (docs/performance.md). The client still does everything
 * else (the table's creation and metadata, and every credential: ADC, metadata server, keys).
 * @see https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { withDeadline } from '../deadline.ts';
import { agentProxyEnv, recordSockets } from '../outbound-proxy.ts';

export interface InsertAllClientOptions {
  /** The table's insertAll URL: `<apiEndpoint>/bigquery/v2/projects/<p>/datasets/<d>/tables/<t>/insertAll`. */
  url: string;
  /** Authorization headers for a request (the BigQuery client's auth client, which caches its token). */
  authHeaders: (url: string) => Promise<Headers | Record<string, string>>;
  /** Deadline of one request, from connecting to the last byte of the answer. */
  timeoutMs: number;
  /** HTTPS_PROXY, NO_PROXY…: the proxy settings the client's own requests honour. */
  proxyEnv?: Record<string, string | undefined>;
}

export interface InsertAllClient {
  /** Posts a serialised insertAll body; resolves with the parsed answer, throws InsertAllHttpError on a non-2xx answer. */
  post(body: string): Promise<InsertAllResponse>;
  close(): void;
}

export interface InsertAllResponse {
  insertErrors?: { index: number; errors?: { reason?: string; message?: string }[] }[];
}

/**
 * A non-2xx answer: `code` is the HTTP status, as the client library's errors carry it, and
 * `reason` BigQuery's (`error.errors[0].reason`) when the answer has one: one status covers
 * several causes (403 is a refused permission, a rate limit or a quota).
 * @see https://cloud.google.com/bigquery/docs/error-messages
 */
export class InsertAllHttpError extends Error {
  readonly code: number;
  readonly reason: string | undefined;
  constructor(code: number, message: string, reason?: string) {
    super(message);
    this.name = 'InsertAllHttpError';
    this.code = code;
    this.reason = reason;
  }
}

/** An answer is a few bytes per failed row; anything far larger is not BigQuery's. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export function createInsertAllClient(options: InsertAllClientOptions): InsertAllClient {
  const secure = options.url.startsWith('https:');
  // No cap on sockets (as the client's agent): a request queued behind a cap would spend its
  // deadline waiting to be sent. What is in flight is bounded by ingest's group commits.
  const agentOptions = { keepAlive: true, ...(options.proxyEnv ? { proxyEnv: agentProxyEnv(options.proxyEnv, options.url) } : {}) };
  const agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  const send = secure ? httpsRequest : httpRequest;
  const sockets = recordSockets(agent);

  /** One attempt; a kept-alive connection the other side closed as it was reused gets one more, at once. */
  const exchange = (headers: Record<string, string>, payload: Buffer, signal: AbortSignal, retryReused: boolean) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      // Settled by the deadline whatever the stage: a proxy's CONNECT, which the request's own
      // abort does not reach, included. The listener goes when the exchange ends, else it would
      // hold the payload until the deadline.
      const onAbort = () => fail(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const succeed = (answer: { status: number; text: string } | Promise<{ status: number; text: string }>) => {
        signal.removeEventListener('abort', onAbort);
        resolve(answer);
      };
      const fail = (error: Error) => {
        signal.removeEventListener('abort', onAbort);
        // A socket this request opened but never held (a proxy's tunnel) is closed by no one else.
        for (const socket of opened) if (socket !== req.socket) socket.destroy();
        reject(error);
      };
      const req = send(options.url, { method: 'POST', agent, headers, signal }, (res) => {
        readAnswer(res).then((text) => succeed({ status: res.statusCode ?? 0, text }), fail);
      });
      const opened = sockets.take();
      // `on`, not `once`: a second error must find a listener, not crash the process.
      let failed = false;
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (failed) return;
        failed = true;
        if (retryReused && req.reusedSocket && error.code === 'ECONNRESET') succeed(exchange(headers, payload, signal, false));
        else fail(error);
      });
      req.end(payload);
    });

  return {
    async post(body) {
      // One deadline for the whole exchange, the credentials' refresh included.
      const signal = AbortSignal.timeout(options.timeoutMs);
      const auth = await withDeadline(credentialHeaders(options), options.timeoutMs, 'Google auth', 'BigQuery credentials');
      const payload = Buffer.from(body);
      const headers: Record<string, string> = {
        ...Object.fromEntries(auth),
        'content-type': 'application/json',
        'content-length': String(payload.length),
        'user-agent': 'iot-telemetry-pipeline (insertAll)',
      };
      const answer = await exchange(headers, payload, signal, true);
      if (answer.status < 200 || answer.status > 299) {
        const { message, reason } = errorOf(answer.status, answer.text);
        throw new InsertAllHttpError(answer.status, message, reason);
      }
      try {
        return answer.text ? (JSON.parse(answer.text) as InsertAllResponse) : {};
      } catch {
        // Not BigQuery answering (a proxy's page): worth another attempt, never a verdict on the rows.
        throw new Error(`insertAll answered ${answer.status} with a body that is not JSON: ${answer.text.slice(0, 200)}`);
      }
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * The auth client's headers. Without any credentials at all the request goes without them, as the
 * client library sends it (an emulator needs none; BigQuery itself answers 401, which is named).
 */
async function credentialHeaders(options: InsertAllClientOptions): Promise<Headers> {
  try {
    return new Headers(await options.authHeaders(options.url));
  } catch (error) {
    if (error instanceof Error && error.message.includes('Could not load the default credentials')) return new Headers();
    throw error;
  }
}

function readAnswer(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_ANSWER_BYTES) res.destroy(new Error(`insertAll answer over ${MAX_ANSWER_BYTES} bytes`));
      else chunks.push(chunk);
    });
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
  });
}

/** BigQuery's own message and reason (`{"error": {"message", "errors": [{"reason"}]}}`) when the answer has them. */
function errorOf(status: number, text: string): { message: string; reason?: string } {
  try {
    const error = (JSON.parse(text) as { error?: { message?: unknown; errors?: unknown } } | null)?.error;
    const first: unknown = Array.isArray(error?.errors) ? (error.errors as unknown[])[0] : undefined;
    const reason = (first as { reason?: unknown } | undefined)?.reason;
    const message = typeof error?.message === 'string' && error.message ? error.message : `HTTP ${status}`;
    return typeof reason === 'string' && reason ? { message, reason } : { message };
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return { message: `HTTP ${status}` };
}
