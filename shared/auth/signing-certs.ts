/**
 * Google's token signing certificates (PEM keyed by `kid`), fetched and cached here rather than
 * by google-auth-library, whose own fetch kept whatever a 200 answer held (a truncated body
 * included) for the answer's whole `max-age`, and opened one connection per waiting verify.
 * Here an answer is kept only when every certificate in it parses; concurrent verifies share one
 * fetch; a failed fetch is kept by no one, so the next verify tries again; and a token whose
 * `kid` the set lacks refreshes the set, at most once a minute and without dropping it (Google
 * publishes a key before it signs with it, so an unknown `kid` is far more often a forgery than
 * a rotation).
 * @see https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
 */
import { createPublicKey } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { LoadingCache } from '../loading-cache.ts';
import { agentProxyEnv, recordSockets } from '../outbound-proxy.ts';

export type Certificates = Record<string, string>;

export interface SigningCertsOptions {
  /** Google's (`https://www.googleapis.com/oauth2/v1/certs`) by default. */
  url?: string;
  /** The whole fetch, to the answer's last byte, in one attempt (default 3 s). */
  timeoutMs?: number;
  /** How soon after a fetch a token with an unknown `kid` may fetch again. */
  refreshAfterMs?: number;
  /** HTTPS_PROXY, NO_PROXY…: the proxy settings Google's clients honour, so that the fetch goes their way. */
  proxyEnv?: Record<string, string | undefined>;
}

export interface SigningCerts {
  /** The current set, fetched anew first if it lacks `kid` and the last fetch is old enough. */
  forKid(kid: string): Promise<Certificates>;
}

/** The certificates could not be had: the caller answers so that the sender retries. */
export class CertsUnavailableError extends Error {
  override readonly name = 'CertsUnavailableError';
}

const GOOGLE_CERTS_URL = 'https://www.googleapis.com/oauth2/v1/certs';
/** Google answers in well under a second; a push waits on this, so Pub/Sub had better retry soon. */
const CERTS_TIMEOUT_MS = 3_000;
/** Google's answer is about 4 KB; anything this large is not it. */
const MAX_ANSWER_BYTES = 256 * 1024;
/** Held at least this long, so that a `max-age=0` or missing header cannot mean a fetch per push. */
const MIN_HOLD_MS = 60_000;
/** And at most a day, whatever the header says. */
const MAX_HOLD_MS = 24 * 3_600_000;
const REFRESH_AFTER_MS = 60_000;

interface Fetched {
  certs: Certificates;
  holdMs: number;
  /** `performance.now()` when the fetch started. */
  fetchedAt: number;
}

export function createSigningCerts(options: SigningCertsOptions): SigningCerts {
  const url = options.url ?? GOOGLE_CERTS_URL;
  const timeoutMs = options.timeoutMs ?? CERTS_TIMEOUT_MS;
  const refreshAfterMs = options.refreshAfterMs ?? REFRESH_AFTER_MS;
  // An agent and its connections per fetch (they are minutes apart at least), through the proxy when one is set.
  const agentOptions = { keepAlive: false, ...(options.proxyEnv ? { proxyEnv: agentProxyEnv(options.proxyEnv, url) } : {}) };
  const get = url.startsWith('https:') ? getter(httpsRequest, () => new HttpsAgent(agentOptions)) : getter(httpRequest, () => new HttpAgent(agentOptions));
  // One key, the URL: the cache gives the shared fetch, the hold and the forgetting of failures.
  const cache = new LoadingCache<string, Fetched>({
    load: (key) => fetchCerts(get, key, timeoutMs),
    ttlMs: (fetched) => fetched.holdMs,
    maxEntries: 1,
  });
  // A refresh for an unknown kid runs beside the held set, which keeps serving the known keys
  // meanwhile and stays if the refresh fails; it is tried at most once per `refreshAfterMs`,
  // failed or not, so that tokens with made-up kids cannot make a fetch each.
  let refreshing: Promise<Fetched> | undefined;
  let lastRefreshAt = Number.NEGATIVE_INFINITY;

  return {
    async forKid(kid) {
      const held = await cache.get(url);
      if (Object.hasOwn(held.certs, kid)) return held.certs;
      // A refresh under way may be bringing this kid: wait for it rather than refuse the token.
      if (refreshing) return (await refreshing).certs;
      const now = performance.now();
      if (now - Math.max(held.fetchedAt, lastRefreshAt) < refreshAfterMs) return held.certs;
      lastRefreshAt = now;
      refreshing ??= fetchCerts(get, url, timeoutMs)
        .then((fresh) => {
          cache.set(url, fresh);
          return fresh;
        })
        .finally(() => {
          refreshing = undefined;
        });
      return (await refreshing).certs;
    },
  };
}

interface Answer {
  cacheControl: string | undefined;
  text: string;
}

type Get = (url: string, signal: AbortSignal) => Promise<Answer>;

/**
 * One GET: a 200 read to its end, within `signal`; redirects are not followed (node:http never
 * does). It settles by `signal` whatever stage the exchange is in (a proxy's CONNECT included,
 * which the request's own abort does not reach), and every socket it opened is destroyed then.
 */
function getter(send: typeof httpRequest, newAgent: () => HttpAgent): Get {
  return (url, signal) => {
    const agent = newAgent();
    const sockets = recordSockets(agent);
    let onAbort = () => {};
    return new Promise<Answer>((resolve, reject) => {
      onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const req = send(url, { agent, signal, headers: { accept: 'application/json' } }, (res) => {
        if (res.statusCode !== 200) {
          res.destroy();
          reject(new Error(`answered ${res.statusCode}`));
          return;
        }
        readCapped(res, MAX_ANSWER_BYTES).then((text) => resolve({ cacheControl: res.headers['cache-control'], text }), reject);
      });
      // `on`: an abort can raise a second error, which must find a listener.
      req.on('error', reject);
      req.end();
    }).finally(() => {
      signal.removeEventListener('abort', onAbort);
      for (const socket of sockets.take()) socket.destroy();
    });
  };
}

async function fetchCerts(get: Get, url: string, timeoutMs: number): Promise<Fetched> {
  const fetchedAt = performance.now();
  let answer: Answer;
  try {
    // The signal bounds the body's reading too, not only the wait for the headers.
    answer = await get(url, AbortSignal.timeout(timeoutMs));
  } catch (error) {
    throw new CertsUnavailableError(`cannot fetch the token signing certificates from ${url}: ${describe(error)}`, { cause: error });
  }
  return { certs: parseCerts(answer.text, url), holdMs: holdFor(answer.cacheControl), fetchedAt };
}

function readCapped(res: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) res.destroy(new Error(`the answer is over ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
  });
}

/** Every value must be a PEM certificate or public key that parses: a cut-off answer is not kept. */
function parseCerts(text: string, url: string): Certificates {
  const refuse = (why: string) => new CertsUnavailableError(`the token signing certificates from ${url} are unusable: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refuse('the answer is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw refuse('the answer is not an object of certificates by kid');
  const entries = Object.entries(parsed);
  if (entries.length === 0) throw refuse('the answer holds no certificate');
  for (const [kid, pem] of entries) {
    if (typeof pem !== 'string') throw refuse(`"${kid}" is not a PEM string`);
    try {
      createPublicKey(pem);
    } catch {
      throw refuse(`"${kid}" is not a certificate or public key`);
    }
  }
  return Object.fromEntries(entries) as Certificates;
}

/** `max-age` from Cache-Control, within [1 min, 1 day]. */
function holdFor(cacheControl: string | undefined): number {
  const maxAge = cacheControl ? /(?:^|[,\s])max-age=(\d+)/i.exec(cacheControl)?.[1] : undefined;
  const ms = maxAge === undefined ? MIN_HOLD_MS : Number(maxAge) * 1000;
  return Math.min(Math.max(ms, MIN_HOLD_MS), MAX_HOLD_MS);
}

function describe(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'no whole answer in time';
  // node:http's word for a connection closed before the answer's end.
  if (error instanceof Error && error.message === 'aborted') return 'the answer ended early';
  if (error instanceof Error) return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
  return String(error);
}
