/**
 * bridge: the device-facing HTTP function. A device POSTs readings with its token or JWT; the
 * bridge checks the credential (from memory at steady state), the device's rate, the body,
 * and answers only once Pub/Sub has acknowledged the message: 202 on its own paths, 200 `{}`
 * on Cloud IoT Core's, as IoT Core did. Devices also read their configuration (from memory
 * at steady state, see config-cache.ts) and report their state.
 * @see ../../docs/devices.md
 */
import { errorResponse, HttpError } from '../../shared/errors.ts';
import { isoTime } from '../../shared/iso-time.ts';
import { defineFunction } from '../../shared/runtime/function.ts';
import { createListener, type RequestHead, type WireRequest, type WireResponse } from '../../shared/runtime/http.ts';
import { createWorkBudget, heapShare } from '../../shared/runtime/work-budget.ts';
import type { Platform } from '../../shared/runtime/platform.ts';
import type { Publisher } from '../../shared/pubsub/publisher.ts';
import { createAuthenticator } from './auth.ts';
import { createDeviceConfigCache } from './config-cache.ts';
import { answerConfig, parseReportedState, recordState } from './config-state.ts';
import { createCredentialsCache, type DeviceAuth } from './credentials-cache.ts';
import { decodePublishEvent, googleErrorResponse, iotCoreAttributes, MAX_PUBLISH_EVENT_BODY_BYTES } from './iot-core.ts';
import { buildTelemetryMessage } from './message.ts';
import { isSenmlMediaType, parseBoundedJson, toDeviceReadings } from './payload.ts';
import { createRateLimiter, type RateLimiter } from './rate-limit.ts';
import { deviceIdIn, isIotCorePath, matchRoute, type BridgeRoute } from './routes.ts';

/** Device bodies: 256 KiB, before and after gunzip; a publishEvent's, what a 256 KiB event needs. */
const MAX_BODY_BYTES = 256 * 1024;
/**
 * What a byte of body may cost while it is handled: a 256 KiB body of 83 readings of 256 small
 * metrics is 21,000 values parsed, checked and written again. 200 of them at once (the
 * manifest's containerConcurrency) ran the bridge out of its heap (307 MB, limit 256 MiB).
 */
const MEMORY_PER_BODY_BYTE = 100;
/** How long a body waits for room before it is answered 429 (a device retries after Retry-After). */
const BUDGET_WAIT_MS = 20_000;
/** The bodies waiting for room, read already, are bounded too: past this, 429 at once. */
const MAX_WAITING_BODY_BYTES = 8 * 1024 * 1024;
/**
 * A body this small (a few readings) always waits its turn rather than being refused at once:
 * one device's 32 largest bodies waiting fill the room above, and refused 85% of another
 * device's single readings. Those waiting beyond it hold at most containerConcurrency × this.
 */
const SMALL_BODY_BYTES = 16 * 1024;

function create(platform: Platform) {
  const { config, logger } = platform;
  const database = () => platform.database();
  const credentials = createCredentialsCache({ database, logger, ttlMs: config.credentialCacheTtlMs, changesRefreshMs: config.configRefreshMs });
  const authenticator = createAuthenticator({ credentials, audience: config.projectId, logger });
  const rateLimiter = config.deviceRateLimit ? createRateLimiter(config.deviceRateLimit) : undefined;
  // IoT Core's limit on state updates: one per second per device.
  const stateLimiter = createRateLimiter({ count: 1, periodMs: 1_000, text: '1/s' });
  const configs = createDeviceConfigCache({ database, refreshMs: config.configRefreshMs });
  // The bodies being handled at once are bounded, and so are those waiting for room (their
  // bytes: at most 256 KiB each, 352 KiB for a publishEvent). The share is taken once the body
  // is in, so that no device can make others wait by sending its body slowly.
  const budget = createWorkBudget(heapShare(MEMORY_PER_BODY_BYTE), { maxWaiting: MAX_WAITING_BODY_BYTES, smallShare: SMALL_BODY_BYTES });
  let publisher: Publisher | undefined;
  // Once the publisher is open, a publish goes straight to it: no await of a settled promise per request.
  const publish = (topic: string, data: Buffer, attributes: Record<string, string>): Promise<string> =>
    publisher ? publisher.publish(topic, data, attributes) : platform.publisher().then((opened) => (publisher = opened).publish(topic, data, attributes));

  /**
   * The route and the device's credential, checked before the body is read, so that only a
   * device that proves itself can make the bridge hold a body up to its limit (before, 200
   * connections without a token held 200 MiB). The listener hands the result to `handle`.
   */
  async function admit({ method, path, headers }: RequestHead): Promise<Admission> {
    const route = matchRoute(method, path);
    if (route.iot && route.project !== config.projectId) throw new HttpError(404, 'not_found', `unknown project ${route.project.slice(0, 100)}`);
    const device = await authenticator.authenticate(headers.authorization, route.deviceId, {
      nowMs: Date.now(),
      requireJwt: route.iot,
      ...(route.iot ? { registry: route.registry } : {}),
    });
    return { route, device };
  }

  async function accept(req: WireRequest, { route, device }: Admission): Promise<WireResponse> {
    const { deviceId } = route;
    const senml = req.method === 'POST' && isSenmlMediaType(req.headers['content-type']);
    const name = route.iot ? route : { project: config.projectId, registry: device.registry };

    if (route.kind === 'config') return answerConfig(configs, device, req.query, route.iot);
    if (route.kind === 'setState' || route.kind === 'state') {
      const state = parseReportedState(req, route.iot);
      refuseOverLimit(stateLimiter, deviceId, req.receivedAt, 'STATE_RATE_LIMIT');
      const messageId = await recordState({ database, publish, topic: config.stateTopic }, device, iotCoreAttributes(device, name), state, req.receivedAt);
      return route.iot
        ? ok(deviceId, messageId)
        : { status: 202, body: { accepted: 1, messageIds: [messageId] }, log: { deviceId, outcome: 'state', messageId } };
    }

    if (rateLimiter) refuseOverLimit(rateLimiter, deviceId, req.receivedAt, 'DEVICE_RATE_LIMIT');
    if (route.kind === 'publishEvent') {
      // As IoT Core: the device's bytes unchanged, judged by ingest, not here.
      const event = decodePublishEvent(parseBoundedJson(req.body));
      const attributes = {
        ...iotCoreAttributes(device, name, event.subFolder ?? ''),
        registry: device.registry,
        receivedAt: isoTime(req.receivedAt),
      };
      return ok(deviceId, await publish(config.telemetryTopic, event.payload, attributes));
    }
    const telemetry = toDeviceReadings(parseBoundedJson(req.body), deviceId, { nowMs: req.receivedAt, senml });
    const message = buildTelemetryMessage(device, telemetry, req.receivedAt);
    const messageId = await publish(config.telemetryTopic, message.data, message.attributes);
    return {
      status: 202,
      body: { accepted: telemetry.readings.length, messageIds: [messageId] },
      log: { deviceId, outcome: 'accepted', readings: telemetry.readings.length, messageId },
    };
  }

  async function handle(req: WireRequest, admission: Admission): Promise<WireResponse> {
    const { deviceId } = admission.route;
    let giveBack: (() => void) | undefined;
    try {
      if (req.body.length > 0) giveBack = await budget.take(req.body.length, BUDGET_WAIT_MS);
      return await accept(req, admission);
    } catch (error) {
      const response = refusal(error, req.path, deviceId);
      if (response.status >= 500) req.log.error('device request failed', { deviceId, error });
      return response;
    } finally {
      giveBack?.();
    }
  }

  return {
    listener: createListener(handle, {
      logger,
      projectId: config.projectId,
      body: ({ route }) => ({ limitBytes: route.kind === 'publishEvent' ? MAX_PUBLISH_EVENT_BODY_BYTES : MAX_BODY_BYTES, gzip: true }),
      admit,
      // Refused before the handler (route, credential, size, encoding): answered and logged as in it.
      mapError: (error, path) => refusal(error, path, deviceIdIn(path)),
    }),
  };
}

interface Admission {
  route: BridgeRoute;
  device: DeviceAuth;
}

/**
 * An error as the device hears it, in Google's shape on IoT Core's paths and ours elsewhere,
 * with the device and the outcome for the request's log line.
 */
function refusal(error: unknown, path: string, deviceId: string | undefined): WireResponse {
  const mapped = isIotCorePath(path) ? googleErrorResponse(error) : errorResponse(error);
  const code = 'code' in mapped ? mapped.code : mapped.body.error;
  return { status: mapped.status, body: mapped.body, ...(mapped.headers ? { headers: mapped.headers } : {}), log: { deviceId, outcome: code } };
}

/** IoT Core's answer to publishEvent and setState: 200 with an empty JSON object. */
const ok = (deviceId: string, messageId: string): WireResponse => ({ status: 200, body: {}, log: { deviceId, outcome: 'accepted', messageId } });

/** Throws 429 with Retry-After and the limit's name once the device spent its bucket. */
function refuseOverLimit(limiter: RateLimiter, deviceId: string, nowMs: number, limitName: string): void {
  const decision = limiter.take(deviceId, nowMs);
  if (decision.allowed) return;
  throw new HttpError(429, 'rate_limited', `device ${deviceId} is over ${limitName}=${limiter.limit.text}; retry in ${decision.retryAfterSeconds} s`, {
    headers: { 'Retry-After': String(decision.retryAfterSeconds) },
    limit: limitName,
  });
}

export default defineFunction({ name: 'bridge', create });
