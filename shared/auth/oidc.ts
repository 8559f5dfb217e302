/**
 * Verifies the OIDC token Pub/Sub (and Eventarc) attach to an authenticated push:
 * `Authorization: Bearer <Google-signed ID token>` whose `aud` is the audience the
 * subscription was created with and whose `email` is the push service account.
 * Knative/Cloud Run deliver the request to the container either way, so ingest and
 * deadletter check it themselves in production; locally (and against the emulator, which
 * sends no token) it is off.
 * @see https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { OAuth2Client } from 'google-auth-library';
import type { Config } from '../config.ts';
import { HttpError } from '../errors.ts';
import { parseBearer } from './bearer.ts';

export interface PushVerifierOptions {
  /** The `--push-auth-token-audience` of the subscription (often the service URL). */
  audience: string;
  /** Service-account emails allowed to push (the subscription's push auth account). */
  allowedEmails: string[];
  /** Where Google's signing certificates (PEM, keyed by `kid`) are fetched; Google's by default. */
  certsUrl?: string;
  issuers?: string[];
  /** How long fetching the certificates may take, to the last byte (one attempt). */
  certsTimeoutMs?: number;
}

export interface PushVerifier {
  /** Resolves with the caller's email, or throws HttpError 401 (bad token) / 403 (not allowed). */
  verify(headers: IncomingHttpHeaders): Promise<{ email: string }>;
}

const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

// One message for every token failure: a caller learns nothing about which check failed.
const unauthenticated = () =>
  new HttpError(401, 'unauthenticated', 'a valid Google-signed OIDC token is required', { headers: { 'WWW-Authenticate': 'Bearer' } });

const bearerToken = (headers: IncomingHttpHeaders): string | undefined => parseBearer(headers.authorization);

/** Fetching Google's certificates, to the last byte, in one attempt (Google answers in well under a second). */
const CERTS_TIMEOUT_MS = 3_000;

/**
 * Builds a verifier. google-auth-library is imported on the first push, not at start-up
 * (cold start), and its client caches the certificates for as long as Google's
 * `Cache-Control` allows.
 */
export function createPushVerifier(options: PushVerifierOptions): PushVerifier {
  if (options.audience.trim() === '') throw new Error('push verification needs an audience');
  if (options.allowedEmails.length === 0) throw new Error('push verification needs at least one allowed email');
  const allowed = new Set(options.allowedEmails.map((e) => e.toLowerCase()));
  let client: Promise<OAuth2Client> | undefined;
  const getClient = () =>
    (client ??= import('google-auth-library').then(
      ({ OAuth2Client }) =>
        new OAuth2Client({
          issuers: options.issuers ?? GOOGLE_ISSUERS,
          // gaxios has no timeout of its own: a certificates host that stops answering would
          // hold every push waiting on it until Pub/Sub gives up.
          // One attempt: the library's own retries (up to three, with waits) would stretch a
          // verify to about 14 s; Pub/Sub retries the push that gets the 503.
          transporterOptions: { timeout: options.certsTimeoutMs ?? CERTS_TIMEOUT_MS, retryConfig: { retry: 0 } },
          ...(options.certsUrl ? { endpoints: { oauth2FederatedSignonPemCertsUrl: options.certsUrl } } : {}),
        }),
    ));

  return {
    async verify(headers) {
      const idToken = bearerToken(headers);
      if (!idToken) throw unauthenticated();
      const oauth = await getClient();
      let payload;
      try {
        payload = (await oauth.verifyIdToken({ idToken, audience: options.audience })).getPayload();
      } catch (error) {
        // The certificates could not be fetched: not the caller's fault, so Pub/Sub should retry.
        if (error instanceof Error && error.message.startsWith('Failed to retrieve verification certificates')) {
          throw new HttpError(503, 'unavailable', 'cannot fetch the token signing certificates', { headers: { 'Retry-After': '1' } });
        }
        throw unauthenticated();
      }
      const email = payload?.email?.toLowerCase();
      if (!email || payload?.email_verified !== true || !allowed.has(email)) {
        throw new HttpError(403, 'permission_denied', "the token's service account may not push to this endpoint");
      }
      return { email };
    },
  };
}

/**
 * The verifier the configuration asks for: `undefined` outside production mode (local runs,
 * the emulator) or when `PUSH_AUTH_DISABLED=true` (e.g. Eventarc to GKE, which delivers
 * in-cluster without a token). In production, `PUSH_AUTH_AUDIENCE` and
 * `PUSH_AUTH_ALLOWED_EMAILS` are required: a missing value fails start-up rather than leaving
 * the endpoint open. Only the push receivers ask, so the other functions start without them.
 */
export function verifierFromConfig(config: Pick<Config, 'production' | 'pushAuth'>): PushVerifier | undefined {
  const { disabled, audience, allowedEmails, certsUrl, issuers } = config.pushAuth;
  if (!config.production || disabled) return undefined;
  if (audience === undefined || allowedEmails.length === 0) {
    const missing = [audience === undefined ? 'PUSH_AUTH_AUDIENCE' : undefined, allowedEmails.length === 0 ? 'PUSH_AUTH_ALLOWED_EMAILS' : undefined].filter(
      Boolean,
    );
    throw new Error(`production mode verifies Pub/Sub push tokens: set ${missing.join(' and ')} (or PUSH_AUTH_DISABLED=true)`);
  }
  return createPushVerifier({ audience, allowedEmails, certsUrl, issuers });
}
