/**
 * The registry's lifecycle operations (docs/lifecycle.md), behind the same admin auth as
 * the device routes:
 * - `POST /v1/rejected:replay` republishes `rejected` messages through the platform's publisher;
 * - `POST /v1/maintenance:run` runs `npm run maintain`'s steps (what Cloud Scheduler calls).
 */
import express, { type Request, type Router } from 'express';
import { ReplayRequest } from '../../schemas/lifecycle.ts';
import { HttpError, toIssues, ValidationError } from '../../shared/errors.ts';
import { maintenanceOptions, runMaintenance } from '../../shared/lifecycle/maintain.ts';
import { replayRejected } from '../../shared/lifecycle/replay.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import { noQueryParameters } from './routes.ts';

/** An empty body means "no filters"; anything else must be a JSON object the schema accepts. */
function parseReplay(req: Request): ReplayRequest {
  // express.json leaves the body undefined when the request did not say it is JSON.
  if (req.body === undefined && Number(req.headers['content-length'] ?? 0) > 0) {
    throw new HttpError(415, 'unsupported_media_type', 'send a JSON body with Content-Type: application/json');
  }
  const parsed = ReplayRequest.safeParse(req.body ?? {});
  if (!parsed.success) throw new ValidationError('invalid replay request', toIssues(parsed.error.issues));
  return parsed.data;
}

export function createLifecycleRouter(platform: Platform): Router {
  const router = express.Router();

  router.post(/^\/v1\/rejected:replay$/, noQueryParameters, async (req, res) => {
    const request = parseReplay(req);
    const result = await replayRejected(request, {
      db: await platform.database(),
      publisher: () => platform.publisher(),
      topic: platform.config.telemetryTopic,
      logger: platform.logger,
    });
    res.json(result);
  });

  router.post(/^\/v1\/maintenance:run$/, noQueryParameters, async (_req, res) => {
    const report = await runMaintenance(await platform.database(), maintenanceOptions(platform));
    res.json(report);
  });

  return router;
}
