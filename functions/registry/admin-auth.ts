/**
 * Who may call the registry: operators with `Authorization: Bearer <ADMIN_TOKEN>` (compared in
 * constant time, shared/auth/bearer.ts), and, for `POST /v1/maintenance:run` only, Cloud
 * Scheduler. Scheduler sends a Google-signed OIDC token in `Authorization` (it cannot also send
 * the admin token there); with MAINTENANCE_AUTH_* set, that one route accepts such a token from
 * the allowed service accounts, verified like a Pub/Sub push token.
 * The check runs before the body is read, and nothing here logs a header.
 * @see https://cloud.google.com/scheduler/docs/http-target-auth
 */
import { randomBytes } from 'node:crypto';
import { bearerChecker } from '../../shared/auth/bearer.ts';
import { createPushVerifier } from '../../shared/auth/oidc.ts';
import type { Config } from '../../shared/config.ts';
import { HttpError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { RequestHead } from '../../shared/runtime/http.ts';

const MAINTENANCE_ROUTE = '/v1/maintenance:run';

/**
 * ADMIN_TOKEN, or a random one for this process when it is unset (a local run), announced
 * once at WARNING so that the operator can use it.
 */
export function resolveAdminToken(configured: string | undefined, logger: Logger): string {
  if (configured) return configured;
  const generated = randomBytes(24).toString('base64url');
  logger.warn(`ADMIN_TOKEN is not set; generated one for this process: ${generated}`);
  return generated;
}

export function admitOperators(adminToken: string, scheduler: Config['maintenanceAuth']): (head: RequestHead) => Promise<void> {
  const isAdmin = bearerChecker(adminToken);
  const verifier = scheduler ? createPushVerifier(scheduler) : undefined;
  return async ({ method, path, headers }) => {
    if (isAdmin(headers.authorization)) return;
    if (verifier && method === 'POST' && path === MAINTENANCE_ROUTE) {
      await verifier.verify(headers);
      return;
    }
    throw new HttpError(401, 'unauthenticated', 'missing or invalid admin token', { headers: { 'WWW-Authenticate': 'Bearer' } });
  };
}
