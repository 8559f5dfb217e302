/**
 * bridge: the device-facing HTTP function. A device POSTs readings with its token or JWT; the
 * bridge checks the credential (from memory at steady state), the device's rate, the body,
 * and answers 202 only once Pub/Sub has acknowledged the message.
 * @see ../../docs/devices.md
 */
import { errorResponse } from '../../shared/errors.ts';
import { defineFunction } from '../../shared/runtime/function.ts';
import { createListener, type WireRequest, type WireResponse } from '../../shared/runtime/http.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import { createAuthenticator } from './auth.ts';
import { createCredentialsCache } from './credentials-cache.ts';
import { decodePublishEvent } from './iot-core.ts';
import { buildTelemetryMessage } from './message.ts';
import { isSenmlMediaType, parseBoundedJson, toDeviceReadings } from './payload.ts';
import { createRateLimiter, parseRateLimit, type RateLimiter } from './rate-limit.ts';
import { matchRoute, type BridgeRoute } from './routes.ts';

/** Device bodies: 256 KiB, before and after gunzip. */
export const MAX_BODY_BYTES = 256 * 1024;

function create(platform: Platform) {
  const { config, logger } = platform;
  const credentials = createCredentialsCache({ database: () => platform.database(), logger, ttlMs: config.credentialCacheTtlMs });
  const authenticator = createAuthenticator({ credentials, audience: config.projectId, logger });
  const rateLimiter = config.deviceRateLimit ? createRateLimiter(parseRateLimit(config.deviceRateLimit)) : undefined;

  async function accept(req: WireRequest, route: BridgeRoute): Promise<WireResponse> {
    const { deviceId } = route;
    const iot = route.kind === 'publishEvent';
    const senml = isSenmlMediaType(req.headers['content-type']);
    if (iot && route.project !== config.projectId) return notFound(`unknown project ${route.project}`);
    const device = await authenticator.authenticate(req.headers.authorization, deviceId, {
      nowMs: req.receivedAt,
      requireJwt: iot,
      ...(iot ? { registry: route.registry } : {}),
    });
    const limited = rateLimiter && refuseOverLimit(rateLimiter, deviceId, req.receivedAt);
    if (limited) return limited;
    const event = iot ? decodePublishEvent(parseBoundedJson(req.body)) : undefined;
    const payload = event ? parseBoundedJson(event.payload, 'binaryData') : parseBoundedJson(req.body);
    const readings = toDeviceReadings(payload, deviceId, { nowMs: req.receivedAt, senml: senml && !iot, ...(iot ? { prefix: 'binaryData' } : {}) });
    const message = buildTelemetryMessage(device, readings, req.receivedAt, route, event?.subFolder);
    const messageId = await (await platform.publisher()).publish(config.telemetryTopic, message.data, message.attributes);
    return {
      status: 202,
      body: { accepted: readings.length, messageIds: [messageId] },
      log: { deviceId, outcome: 'accepted', readings: readings.length, messageId },
    };
  }

  async function handle(req: WireRequest): Promise<WireResponse> {
    const route = matchRoute(req.method, req.path);
    const { deviceId } = route;
    try {
      return await accept(req, route);
    } catch (error) {
      // Mapped here rather than by the listener so that the log line still names the device.
      const mapped = errorResponse(error);
      if (mapped.status >= 500) req.log.error('device request failed', { deviceId, error });
      return { ...mapped, log: { deviceId, outcome: mapped.body.error } };
    }
  }

  return {
    listener: createListener(handle, { logger, projectId: config.projectId, body: { limitBytes: MAX_BODY_BYTES, gzip: true } }),
  };
}

function refuseOverLimit(limiter: RateLimiter, deviceId: string, nowMs: number): WireResponse | undefined {
  const decision = limiter.take(deviceId, nowMs);
  if (decision.allowed) return undefined;
  return {
    status: 429,
    headers: { 'Retry-After': String(decision.retryAfterSeconds) },
    body: { error: 'rate_limited', limit: 'DEVICE_RATE_LIMIT', message: `device ${deviceId} is over DEVICE_RATE_LIMIT=${limiter.limit.text}; retry in ${decision.retryAfterSeconds} s` },
    log: { deviceId, outcome: 'rate_limited' },
  };
}

const notFound = (message: string): WireResponse => ({ status: 404, body: { error: 'not_found', message }, log: { outcome: 'not_found' } });

export default defineFunction({ name: 'bridge', create });
