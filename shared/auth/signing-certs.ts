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
import { LoadingCache } from '../loading-cache.ts';

export type Certificates = Record<string, string>;

export interface SigningCertsOptions {
  /** Google's (`https://www.googleapis.com/oauth2/v1/certs`) by default. */
  url?: string;
  /** The whole fetch, to the answer's last byte, in one attempt (default 3 s). */
  timeoutMs?: number;
  /** How soon after a fetch a token with an unknown `kid` may fetch again. */
  refreshAfterMs?: number;
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
  fetchedAt: number;
}

export function createSigningCerts(options: SigningCertsOptions): SigningCerts {
  const url = options.url ?? GOOGLE_CERTS_URL;
  const timeoutMs = options.timeoutMs ?? CERTS_TIMEOUT_MS;
  const refreshAfterMs = options.refreshAfterMs ?? REFRESH_AFTER_MS;
  // One key, the URL: the cache gives the shared fetch, the hold and the forgetting of failures.
  const cache = new LoadingCache<string, Fetched>({
    load: (key) => fetchCerts(key, timeoutMs),
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
      const now = Date.now();
      if (now - Math.max(held.fetchedAt, lastRefreshAt) < refreshAfterMs) return held.certs;
      lastRefreshAt = now;
      refreshing ??= fetchCerts(url, timeoutMs)
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

async function fetchCerts(url: string, timeoutMs: number): Promise<Fetched> {
  const fetchedAt = Date.now();
  let text: string;
  let cacheControl: string | null;
  try {
    // The signal bounds the body's reading too, not only the wait for the headers.
    // No redirect followed: Google answers in place, and each hop would be one more connection.
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`answered ${res.status}`);
    }
    cacheControl = res.headers.get('cache-control');
    text = await readCapped(res, MAX_ANSWER_BYTES);
  } catch (error) {
    throw new CertsUnavailableError(`cannot fetch the token signing certificates from ${url}: ${describe(error)}`, { cause: error });
  }
  return { certs: parseCerts(text, url), holdMs: holdFor(cacheControl), fetchedAt };
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Error(`the answer is over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
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
function holdFor(cacheControl: string | null): number {
  const maxAge = cacheControl ? /(?:^|[,\s])max-age=(\d+)/i.exec(cacheControl)?.[1] : undefined;
  const ms = maxAge === undefined ? MIN_HOLD_MS : Number(maxAge) * 1000;
  return Math.min(Math.max(ms, MIN_HOLD_MS), MAX_HOLD_MS);
}

function describe(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no whole answer in time';
  if (error instanceof Error) return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
  return String(error);
}
