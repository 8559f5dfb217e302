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
import { decodeJwsPart } from '../json.ts';
import { parseBearer } from './bearer.ts';
import { CertsUnavailableError, createSigningCerts } from './signing-certs.ts';

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
  /** How soon after a fetch a token with an unknown `kid` may fetch the certificates again. */
  certsRefreshAfterMs?: number;
  /** The outbound proxy settings (Config.proxyEnv) the certificates' fetch goes through. */
  proxyEnv?: Record<string, string | undefined>;
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

/**
 * Builds a verifier. The certificates are fetched and held by `signing-certs.ts`;
 * google-auth-library checks the signature and the claims, and is imported on the first push,
 * not at start-up (cold start).
 */
export function createPushVerifier(options: PushVerifierOptions): PushVerifier {
  if (options.audience.trim() === '') throw new Error('push verification needs an audience');
  if (options.allowedEmails.length === 0) throw new Error('push verification needs at least one allowed email');
  const allowed = new Set(options.allowedEmails.map((e) => e.toLowerCase()));
  const certs = createSigningCerts({
    url: options.certsUrl,
    timeoutMs: options.certsTimeoutMs,
    refreshAfterMs: options.certsRefreshAfterMs,
    proxyEnv: options.proxyEnv,
  });
  let client: Promise<OAuth2Client> | undefined;
  const getClient = () => (client ??= import('google-auth-library').then(({ OAuth2Client }) => new OAuth2Client()));
  const issuers = options.issuers ?? GOOGLE_ISSUERS;

  return {
    async verify(headers) {
      const idToken = bearerToken(headers);
      // A token that names no key is refused before anything is fetched for it.
      const kid = idToken === undefined ? undefined : keyIdOf(idToken);
      if (idToken === undefined || kid === undefined) throw unauthenticated();
      let payload;
      try {
        const [oauth, keys] = await Promise.all([getClient(), certs.forKid(kid)]);
        payload = (await oauth.verifySignedJwtWithCertsAsync(idToken, keys, options.audience, issuers)).getPayload();
      } catch (error) {
        // Not the caller's fault, so Pub/Sub should retry.
        if (error instanceof CertsUnavailableError) {
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

/** The `kid` of a JWT's header, or undefined when the token is not a JWT that names one. */
function keyIdOf(token: string): string | undefined {
  const parts = token.split('.');
  const kid = parts.length === 3 && parts[0] !== undefined ? decodeJwsPart(parts[0])?.kid : undefined;
  return typeof kid === 'string' && kid !== '' ? kid : undefined;
}

/**
 * The verifier the configuration asks for: `undefined` outside production mode (local runs,
 * the emulator) or when `PUSH_AUTH_DISABLED=true` (e.g. Eventarc to GKE, which delivers
 * in-cluster without a token). In production, `PUSH_AUTH_AUDIENCE` and
 * `PUSH_AUTH_ALLOWED_EMAILS` are required: a missing value fails start-up rather than leaving
 * the endpoint open. Only the push receivers ask, so the other functions start without them.
 */
export function verifierFromConfig(config: Pick<Config, 'production' | 'pushAuth' | 'proxyEnv'>): PushVerifier | undefined {
  const { disabled, audience, allowedEmails, certsUrl, issuers } = config.pushAuth;
  if (!config.production || disabled) return undefined;
  if (audience === undefined || allowedEmails.length === 0) {
    const missing = [audience === undefined ? 'PUSH_AUTH_AUDIENCE' : undefined, allowedEmails.length === 0 ? 'PUSH_AUTH_ALLOWED_EMAILS' : undefined].filter(
      Boolean,
    );
    throw new Error(`production mode verifies Pub/Sub push tokens: set ${missing.join(' and ')} (or PUSH_AUTH_DISABLED=true)`);
  }
  return createPushVerifier({ audience, allowedEmails, certsUrl, issuers, proxyEnv: config.proxyEnv });
}
