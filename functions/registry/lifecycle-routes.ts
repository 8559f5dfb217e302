/**
 * The registry's lifecycle operations (docs/lifecycle.md), behind the same admin auth as
 * the device routes:
 * - `POST /v1/rejected:replay` republishes `rejected` messages through the platform's publisher;
 * - `POST /v1/maintenance:run` runs `npm run maintain`'s steps (what Cloud Scheduler calls).
 */
import { ReplayRequest } from '../../schemas/lifecycle.ts';
import { HttpError, toIssues, ValidationError } from '../../shared/errors.ts';
import { maintenanceOptions, runMaintenance } from '../../shared/lifecycle/maintain.ts';
import { replayRejected } from '../../shared/lifecycle/replay.ts';
import { jsonBody } from '../../shared/runtime/json-body.ts';
import type { WireRequest } from '../../shared/runtime/http.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import type { Route } from './router.ts';

/** An empty body means "no filters"; anything else must be a JSON object the schema accepts. */
function parseReplay(req: WireRequest): ReplayRequest {
  const body = jsonBody(req);
  if (body === undefined && req.body.length > 0) {
    throw new HttpError(415, 'unsupported_media_type', 'send a JSON body with Content-Type: application/json');
  }
  const parsed = ReplayRequest.safeParse(body ?? {});
  if (!parsed.success) throw new ValidationError('invalid replay request', toIssues(parsed.error.issues));
  return parsed.data;
}

export function lifecycleRoutes(platform: Platform): Route[] {
  return [
    {
      method: 'POST',
      path: /^\/v1\/rejected:replay$/,
      handle: async (req) => {
        const request = parseReplay(req);
        const result = await replayRejected(request, {
          db: await platform.database(),
          publisher: () => platform.publisher(),
          topic: platform.config.telemetryTopic,
          logger: platform.logger,
        });
        return { status: 200, body: result };
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/maintenance:run$/,
      handle: async () => ({ status: 200, body: await runMaintenance(await platform.database(), maintenanceOptions(platform)) }),
    },
  ];
}
