/**
 * registry: the operators' device admin API (create, read, list, change, delete devices and
 * their credentials; read a device's state), a small route table on the same request layer
 * as every other function (shared/runtime/http.ts).
 *
 * Authentication: `Authorization: Bearer $ADMIN_TOKEN`. In production the function also runs
 * behind Cloud Run/Knative IAM (`--no-allow-unauthenticated`, `roles/run.invoker` granted only
 * to operators, who send their identity token in `X-Serverless-Authorization`), with
 * ADMIN_TOKEN mounted from a Secret; see README.md beside this file.
 * @see ../../docs/architecture.md
 */
import { errorResponse } from '../../shared/errors.ts';
import { defineFunction, type FunctionInstance } from '../../shared/runtime/function.ts';
import { createListener, type WireResponse } from '../../shared/runtime/http.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import { admitOperators, resolveAdminToken } from './admin-auth.ts';
import { BatchCreateError } from './batch.ts';
import { lifecycleRoutes } from './lifecycle-routes.ts';
import { routeRequests } from './router.ts';
import { deviceRoutes } from './routes.ts';

/** batchCreate of 10,000 devices with RSA keys stays well under this. */
const BODY_LIMIT_BYTES = 16 * 1024 * 1024;

/** A refused batch names each device's problems besides the flat issue list. */
function answerBatchError(error: unknown): WireResponse | undefined {
  if (!(error instanceof BatchCreateError)) return undefined;
  const mapped = errorResponse(error);
  return { ...mapped, body: { ...mapped.body, errors: error.errors }, log: { error: mapped.body.error } };
}

function create(platform: Platform): FunctionInstance {
  const { logger, config } = platform;
  const adminToken = resolveAdminToken(config.adminToken, logger);
  const routes = [...deviceRoutes(() => platform.database()), ...lifecycleRoutes(platform)];
  const listener = createListener(routeRequests(routes), {
    logger,
    projectId: config.projectId,
    body: { limitBytes: BODY_LIMIT_BYTES, gzip: true },
    admit: admitOperators(adminToken, config.maintenanceAuth),
    mapError: answerBatchError,
  });
  return { listener };
}

export default defineFunction({ name: 'registry', create });
