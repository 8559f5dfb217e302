/**
 * The registry's Express glue: the admin-token check, one access-log line per request, the
 * JSON 404, and the one error middleware that maps every error through `errorResponse`.
 * Nothing here logs a header or a body, so neither the admin token nor a device secret can
 * reach the logs.
 */
import { randomBytes } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { bearerChecker } from '../../shared/auth/bearer.ts';
import { classifyDbError } from '../../shared/db/database.ts';
import { errorResponse, HttpError } from '../../shared/errors.ts';
import { traceFields, type Logger } from '../../shared/log.ts';
import { logFailure, logRequest } from '../../shared/runtime/access-log.ts';
import { BatchCreateError } from './batch.ts';

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

/** `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time (shared/auth/bearer.ts). */
export function requireAdminToken(adminToken: string): RequestHandler {
  const isAdmin = bearerChecker(adminToken);
  return (req, _res, next) => {
    if (isAdmin(req.headers.authorization)) {
      next();
      return;
    }
    next(new HttpError(401, 'unauthenticated', 'missing or invalid admin token', { headers: { 'WWW-Authenticate': 'Bearer' } }));
  };
}

/** The shared access log (shared/runtime/access-log.ts): one line per request, with its trace. */
export function logRequests(logger: Logger, projectId: string): RequestHandler {
  return (req, res, next) => {
    const startedAt = performance.now();
    const requestLog = () => logger.child(traceFields(req.headers, projectId));
    res.on('finish', () => {
      const code = (res.locals as { errorCode?: string }).errorCode;
      logRequest(logger, requestLog, { method: req.method, path: req.path, status: res.statusCode, startedAt, ...(code ? { fields: { error: code } } : {}) });
    });
    next();
  };
}

export const answerNotFound: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`));
};

/** Errors Express and body-parser raise carry a 4xx `status` and a `type`. */
function fromFrameworkError(error: unknown): HttpError | undefined {
  if (!(error instanceof Error) || error instanceof HttpError) return undefined;
  const { status, type } = error as { status?: unknown; type?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (type === 'entity.parse.failed') return new HttpError(400, 'invalid_json', `malformed JSON body: ${error.message}`);
  if (type === 'entity.too.large') return new HttpError(413, 'payload_too_large', 'request body over 16 MiB');
  const code = status === 415 ? 'unsupported_media_type' : 'bad_request';
  return new HttpError(status, code, error.message);
}

/** The one place errors become answers. */
export function handleErrors(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const mapped = errorResponse(fromFrameworkError(error) ?? classifyDbError(error, 'registry'));
    logFailure(logger, mapped.status, error, { method: req.method, path: req.path });
    res.locals.errorCode = mapped.body.error;
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    const body = error instanceof BatchCreateError ? { ...mapped.body, errors: error.errors } : mapped.body;
    res
      .status(mapped.status)
      .set(mapped.headers ?? {})
      .json(body);
  };
}
