/**
 * Cloud Scheduler calls `POST /v1/maintenance:run` with a Google-signed OIDC token in
 * `Authorization` (it cannot also send the admin token there). With MAINTENANCE_AUTH_* set,
 * that one route also accepts such a token from the allowed service accounts, verified like
 * a Pub/Sub push token; every other route, and any other caller, still needs the admin token.
 * @see https://cloud.google.com/scheduler/docs/http-target-auth
 */
import type { RequestHandler } from 'express';
import { createPushVerifier } from '../../shared/auth/oidc.ts';
import type { Config } from '../../shared/config.ts';

const MAINTENANCE_ROUTE = '/v1/maintenance:run';

export function requireAdminTokenOrScheduler(adminAuth: RequestHandler, scheduler: Config['maintenanceAuth'], proxyEnv?: Config['proxyEnv']): RequestHandler {
  const verifier = scheduler ? createPushVerifier({ ...scheduler, proxyEnv }) : undefined;
  return (req, res, next) => {
    void adminAuth(req, res, (refused?: unknown) => {
      if (refused === undefined) return next();
      if (!verifier || req.method !== 'POST' || req.path !== MAINTENANCE_ROUTE) return next(refused);
      verifier.verify(req.headers).then(
        () => next(),
        (error: unknown) => next(error),
      );
    });
  };
}
