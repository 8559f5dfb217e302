/**
 * The common reading, validated without zod's generic walk: a check written for the shape of
 * `Reading` in reading.ts, from the same constants and patterns. It answers only when it is
 * sure: the reading exactly as `Reading.parse` returns it (same values, same key order), or
 * `undefined` for anything else, valid or not, which then goes to zod, the single source of
 * truth and of the error messages. test/schemas/reading-fast-path.test.ts proves both agree.
 */
import {
  IsoDateTime,
  isPlausibleEventTime,
  MAX_METRICS_PER_READING,
  MAX_READINGS_PER_REQUEST,
  MAX_TAG_CHARACTERS,
  MAX_TAGS,
  MAX_TEXT_VALUE_LENGTH,
  METRIC_NAME_PATTERN,
  type Reading,
  type ReadingBatch,
  tagCharacters,
} from './reading.ts';
import { isDeviceId } from './ids.ts';

const ISO_PATTERN = IsoDateTime.def.pattern;

/** A reading as `Reading.parse` would return it, or undefined: ask zod. */
export function readingFastPath(value: unknown): Reading | undefined {
  if (!isPlainObject(value)) return undefined;
  const { deviceId, ts, metrics, units, seq, location, tags } = value;
  const present =
    +(deviceId !== undefined) +
    +(ts !== undefined) +
    +(metrics !== undefined) +
    +(units !== undefined) +
    +(seq !== undefined) +
    +(location !== undefined) +
    +(tags !== undefined);
  // A key outside the shape (strictObject refuses it), or one holding undefined (not JSON).
  if (ownKeyCount(value) !== present) return undefined;
  if (deviceId !== undefined && !isDeviceId(deviceId)) return undefined;
  const time = ts === undefined ? undefined : eventTime(ts);
  if (time === null) return undefined;
  if (!isRecord(metrics, isMetricName, isMetricValue, 1, MAX_METRICS_PER_READING)) return undefined;
  if (units !== undefined && !isRecord(units, isMetricName, (u) => isText(u, 0, 32), 0, Infinity)) return undefined;
  if (seq !== undefined && !(Number.isSafeInteger(seq) && (seq as number) >= 0)) return undefined;
  const place = location === undefined ? undefined : toLocation(location);
  if (place === null) return undefined;
  if (
    tags !== undefined &&
    !(
      isRecord(
        tags,
        (k) => isText(k, 1, 128),
        (v) => isText(v, 0, 256),
        0,
        MAX_TAGS,
      ) && tagCharacters(tags as Record<string, string>) <= MAX_TAG_CHARACTERS
    )
  )
    return undefined;
  // Zod returns new objects in the shape's key order; records keep the order they came in.
  const reading: Reading = {} as Reading;
  if (deviceId !== undefined) reading.deviceId = deviceId as string;
  if (time !== undefined) reading.ts = time;
  reading.metrics = metrics as Reading['metrics'];
  if (units !== undefined) reading.units = units as Record<string, string>;
  if (seq !== undefined) reading.seq = seq as number;
  if (place !== undefined) reading.location = place;
  if (tags !== undefined) reading.tags = tags as Record<string, string>;
  return reading;
}

/** Readings as `z.array(Reading).min(1).max(MAX_READINGS_PER_REQUEST)` returns them, or undefined: ask zod. */
export function readingArrayFastPath(items: unknown[]): Reading[] | undefined {
  if (items.length === 0 || items.length > MAX_READINGS_PER_REQUEST) return undefined;
  const readings: Reading[] = [];
  for (const item of items) {
    const reading = readingFastPath(item);
    if (!reading) return undefined;
    readings.push(reading);
  }
  return readings;
}

/** A batch as `ReadingBatch.parse` returns it, or undefined: ask zod. */
export function readingBatchFastPath(value: unknown): ReadingBatch | undefined {
  if (!isPlainObject(value) || ownKeyCount(value) !== 2) return undefined;
  const { deviceId, readings } = value;
  if (!isDeviceId(deviceId) || !Array.isArray(readings)) return undefined;
  const parsed = readingArrayFastPath(readings);
  return parsed && { deviceId, readings: parsed };
}

/** JSON.parse's objects; `__proto__` as a key is left to zod. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype && !Object.hasOwn(value, '__proto__');
}

/** Epoch ms, or null when zod must judge. */
function eventTime(ts: unknown): number | null {
  let ms: number;
  if (typeof ts === 'number') ms = Math.round(ts);
  else if (typeof ts === 'string' && ISO_PATTERN?.test(ts)) ms = Date.parse(ts);
  else return null;
  return isPlausibleEventTime(ms) ? ms : null;
}

function isRecord(value: unknown, key: (k: string) => boolean, item: (v: unknown) => boolean, min: number, max: number): boolean {
  if (!isPlainObject(value)) return false;
  let count = 0;
  for (const k in value) {
    if (++count > max || !key(k) || !item(value[k])) return false;
  }
  return count >= min;
}

const isMetricName = (name: string) => METRIC_NAME_PATTERN.test(name);

function isMetricValue(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value === 'boolean') return true;
  return isText(value, 0, MAX_TEXT_VALUE_LENGTH);
}

/** reading.ts's `Text`: no NUL, no unpaired surrogate, within the length bounds. */
function isText(value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max && !value.includes('\u0000') && value.isWellFormed();
}

/** The location as zod returns it, or null when zod must judge. */
function toLocation(value: unknown): NonNullable<Reading['location']> | null {
  if (!isPlainObject(value)) return null;
  const { lat, lon, alt } = value;
  if (ownKeyCount(value) !== 2 + +(alt !== undefined)) return null;
  if (!isNumberIn(lat, -90, 90) || !isNumberIn(lon, -180, 180) || !(alt === undefined || isNumberIn(alt, -Infinity, Infinity))) return null;
  return alt === undefined ? { lat: lat as number, lon: lon as number } : { lat: lat as number, lon: lon as number, alt: alt as number };
}

function ownKeyCount(value: object): number {
  let count = 0;
  // Counted without building Object.keys's array.
  for (const _ in value) count++;
  return count;
}

const isNumberIn = (value: unknown, min: number, max: number) => typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
