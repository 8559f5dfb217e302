/**
 * Device bodies to readings: the media type, a bound on JSON nesting checked before parsing,
 * then the shared telemetry parser, and the rule that a reading naming a device names the
 * one in the path. Every refusal carries every issue with its path.
 * @see ../../docs/devices.md and https://www.rfc-editor.org/rfc/rfc8428 (SenML)
 */
import { HttpError, ValidationError, type Issue } from '../../shared/errors.ts';
import { parseJson } from '../../shared/json.ts';
import { parseTelemetry, type NormalisedTelemetry } from '../../shared/telemetry.ts';

/** Deeper JSON is refused before JSON.parse sees it; a reading needs depth 4. */
export const MAX_JSON_DEPTH = 32;

const JSON_TYPE = 'application/json';
const SENML_TYPE = 'application/senml+json';

/**
 * Whether the body is SenML, from `Content-Type`: `application/json` (JSON is UTF-8 whatever
 * `charset` says, RFC 8259 section 8.1) or `application/senml+json`; a body without a
 * `Content-Type` is taken as JSON. Anything else is 415, naming what is accepted.
 */
export function isSenmlMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === JSON_TYPE || contentType.trim() === '') return false;
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (type !== JSON_TYPE && type !== SENML_TYPE) {
    throw new HttpError(415, 'unsupported_media_type', `Content-Type "${contentType.slice(0, 200)}" is not supported; send ${JSON_TYPE} or ${SENML_TYPE}`);
  }
  return type === SENML_TYPE;
}

/** Parses JSON whose nesting is at most MAX_JSON_DEPTH; `what` names it in errors. */
export function parseBoundedJson(body: Buffer, what = 'body'): unknown {
  if (body.length === 0) throw new ValidationError(`${what} is empty`, [{ path: '', message: 'expected a JSON document' }]);
  if (exceedsDepth(body, MAX_JSON_DEPTH)) {
    throw new HttpError(400, 'too_deep', `${what} nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return parseJson(body, what);
}

/** One pass over the bytes, counting brackets outside strings. */
function exceedsDepth(body: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Validates a parsed payload as the path's device's readings. `prefix` roots issue paths
 * (`binaryData` on the IoT Core path).
 */
export function toDeviceReadings(payload: unknown, deviceId: string, options: { nowMs: number; senml: boolean; prefix?: string }): NormalisedTelemetry {
  const parsed = parseTelemetry(payload, { nowMs: options.nowMs, senml: options.senml });
  const at = (path: string) => [options.prefix, path].filter(Boolean).join('.');
  if (!parsed.ok) {
    throw new ValidationError(
      'the telemetry is invalid',
      parsed.issues.map((i) => ({ ...i, path: at(i.path) })),
    );
  }
  const { value } = parsed;
  if (value.deviceId !== undefined && value.deviceId !== deviceId) {
    const message = `"${value.deviceId}" differs from the device in the path, "${deviceId}"`;
    const issues: Issue[] = Array.isArray(payload)
      ? value.readings.flatMap((r, i) => (r.deviceId !== undefined && r.deviceId !== deviceId ? [{ path: at(`${i}.deviceId`), message }] : []))
      : [{ path: at('deviceId'), message }];
    throw new ValidationError('the telemetry names another device', issues);
  }
  return value;
}
