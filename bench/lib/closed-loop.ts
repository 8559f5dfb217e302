/**
 * A closed-loop load whose every request is built afresh (autocannon's CLI sends one fixed
 * body): `connections` workers each send a request, wait for its answer, and send the next, for
 * `seconds`; then the requests still in flight are waited for, each within `timeoutMs`, so that
 * every answer is counted, by status. A load against a heavy endpoint (a batch of 10,000
 * devices, a push of 23,000 rows) would otherwise end with its slowest requests cut off unseen.
 */
import { Agent, request } from 'node:http';

export interface ClosedLoopRequest {
  method: string;
  /** Path and query, appended to the load's URL. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface ClosedLoopOptions {
  url: string;
  connections: number;
  seconds: number;
  /** The `n`th request (from 1), sent by worker `worker` (from 0): a worker can stand for one kind of caller. */
  next(n: number, worker: number): ClosedLoopRequest;
  /** A request not answered this long after it was sent is given up and counted as an error. */
  timeoutMs: number;
  /** Ends the load at once, in-flight requests given up (the server died, say). */
  signal?: AbortSignal;
}

export interface ClosedLoopResult {
  sent: number;
  /** Answers by status code. */
  statuses: Record<string, number>;
  ok: number;
  non2xx: number;
  /** Requests that got no answer: refused or cut connections, timeouts, aborts. */
  errors: number;
  /** The first few distinct error messages, to say what the errors were. */
  errorMessages: string[];
  /** 2xx answers a second of load. */
  reqPerSec: number;
  /** From the first request to the last answer, in seconds. */
  elapsedSeconds: number;
}

const MAX_ERROR_MESSAGES = 3;

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const result: ClosedLoopResult = { sent: 0, statuses: {}, ok: 0, non2xx: 0, errors: 0, errorMessages: [], reqPerSec: 0, elapsedSeconds: 0 };
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const worker = async (index: number) => {
    while (performance.now() < deadline && !options.signal?.aborted) {
      result.sent += 1;
      const outcome = await send(agent, options, options.next(result.sent, index));
      if (typeof outcome === 'number') {
        result.statuses[outcome] = (result.statuses[outcome] ?? 0) + 1;
        if (outcome >= 200 && outcome < 300) result.ok += 1;
        else result.non2xx += 1;
      } else {
        result.errors += 1;
        if (result.errorMessages.length < MAX_ERROR_MESSAGES && !result.errorMessages.includes(outcome.message)) result.errorMessages.push(outcome.message);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, (_, i) => worker(i)));
  } finally {
    agent.destroy();
  }
  result.elapsedSeconds = (performance.now() - started) / 1000;
  result.reqPerSec = result.ok / Math.max(options.seconds, result.elapsedSeconds);
  return result;
}

/** One request: its status once the whole answer is read, or why there was none. */
function send(agent: Agent, options: ClosedLoopOptions, spec: ClosedLoopRequest): Promise<number | Error> {
  return new Promise((resolve) => {
    const headers = { ...spec.headers, ...(spec.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(spec.body)) }) };
    const req = request(`${options.url}${spec.path}`, { method: spec.method, agent, headers, timeout: options.timeoutMs, signal: options.signal }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', (error) => resolve(error));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.once('error', (error) => resolve(error));
    req.end(spec.body);
  });
}
