/**
 * registry: the operators' device admin API (create, read, list, change, delete devices and
 * their credentials; read a device's state). Low traffic, so it is an Express 5 app rather
 * than the bare node:http layer the device- and Pub/Sub-facing functions use.
 *
 * Authentication: `Authorization: Bearer $ADMIN_TOKEN`. In production the function also runs
 * behind Cloud Run/Knative IAM (`--no-allow-unauthenticated`, `roles/run.invoker` granted only
 * to operators, who send their identity token in `X-Serverless-Authorization`), with
 * ADMIN_TOKEN mounted from a Secret; see README.md beside this file.
 * @see ../../docs/architecture.md
 */
import express from 'express';
import { defineFunction, type FunctionInstance } from '../../shared/runtime/function.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import { answerNotFound, handleErrors, logRequests, requireAdminToken, resolveAdminToken } from './middleware.ts';
import { requireAdminTokenOrScheduler } from './scheduler-auth.ts';
import { createLifecycleRouter } from './lifecycle-routes.ts';
import { createDeviceRouter } from './routes.ts';

/** batchCreate of 10,000 devices with RSA keys stays well under this. */
const BODY_LIMIT = '16mb';

function create(platform: Platform): FunctionInstance {
  const { logger, config } = platform;
  const adminToken = resolveAdminToken(config.adminToken, logger);
  const app = express();
  app.disable('x-powered-by');
  app.use(logRequests(logger, config.projectId));
  // Authenticate before reading a body of up to 16 MiB.
  app.use(requireAdminTokenOrScheduler(requireAdminToken(adminToken), config.maintenanceAuth, config.proxyEnv));
  app.use(express.json({ limit: BODY_LIMIT }));
  app.use(createDeviceRouter(() => platform.database()));
  app.use(createLifecycleRouter(platform));
  app.use(answerNotFound);
  app.use(handleErrors(logger));
  return { listener: app };
}

export default defineFunction({ name: 'registry', create });
