/**
 * Telemetry payloads in every accepted form, normalised to one device's readings:
 * a reading, an array of readings, a batch `{deviceId, readings}`, or a SenML pack.
 * Shared by the bridge (device bodies) and ingest (message data).
 */
import { z } from 'zod';
import { isPlausibleEventTime, MAX_READINGS_PER_REQUEST, Reading, ReadingBatch } from '../schemas/reading.ts';
import { readingArrayFastPath, readingBatchFastPath, readingFastPath } from '../schemas/reading-fast-path.ts';
import { resolveSenmlPack, SenmlPack, senmlToReadings, type ResolvedRecord } from '../schemas/senml.ts';
import type { Issue } from './errors.ts';
import { toIssues } from './errors.ts';
import { protoKeyIssues } from './json.ts';

export interface NormalisedTelemetry {
  /** The device the payload names, if it names one (a batch, or readings' `deviceId`). */
  deviceId?: string;
  readings: Reading[];
  /** For a SenML pack: its records resolved (names, absolute times), as the bridge publishes them. */
  senml?: ResolvedRecord[];
}

export type TelemetryResult = { ok: true; value: NormalisedTelemetry } | { ok: false; issues: Issue[] };

const ReadingArray = z.array(Reading).min(1).max(MAX_READINGS_PER_REQUEST);

const isSenmlRecordLike = (v: unknown): boolean => typeof v === 'object' && v !== null && !('metrics' in v);

export interface ParseOptions {
  /** Anchors SenML relative times (the receive or publish time), epoch ms. */
  nowMs: number;
  /** Treat an array as SenML even without the media type (ingest cannot see it). */
  senml?: boolean;
}

/**
 * Validates and normalises a parsed JSON payload; every issue carries its path. The common
 * forms (a reading, an array of readings, a batch) whose every reading takes the reading fast
 * path skip zod's generic walk; anything else, valid or not, is judged by the schemas.
 * `payload` is what JSON.parse returned: the fast path keeps its objects rather than copying them.
 */
export function parseTelemetry(payload: unknown, options: ParseOptions): TelemetryResult {
  const fast = options.senml ? undefined : fastReadings(payload);
  if (fast) return withDeviceId(fast.readings, fast.deviceId);
  return parseTelemetryBySchema(payload, options);
}

/**
 * parseTelemetry by the zod schemas alone: the source of truth, which the fast path must agree
 * with (test/shared/telemetry.test.ts proves it on the fuzz corpus).
 */
export function parseTelemetryBySchema(payload: unknown, options: ParseOptions): TelemetryResult {
  const result = parseBySchemas(payload, options);
  const forbidden = protoKeyIssues(payload);
  if (forbidden.length === 0) return result;
  return { ok: false, issues: [...(result.ok ? [] : result.issues), ...forbidden] };
}

function parseBySchemas(payload: unknown, options: ParseOptions): TelemetryResult {
  if (Array.isArray(payload) && (options.senml || (payload.length > 0 && payload.every(isSenmlRecordLike)))) {
    return parseSenml(payload, options.nowMs);
  }
  if (Array.isArray(payload)) {
    const parsed = ReadingArray.safeParse(payload);
    if (!parsed.success) return { ok: false, issues: toIssues(parsed.error.issues) };
    return withDeviceId(parsed.data);
  }
  if (typeof payload === 'object' && payload !== null && 'readings' in payload) {
    const parsed = ReadingBatch.safeParse(payload);
    if (!parsed.success) return { ok: false, issues: toIssues(parsed.error.issues) };
    const inner = withDeviceId(parsed.data.readings, parsed.data.deviceId);
    return inner;
  }
  const parsed = Reading.safeParse(payload);
  if (!parsed.success) return { ok: false, issues: toIssues(parsed.error.issues) };
  return withDeviceId([parsed.data]);
}

function parseSenml(payload: unknown, nowMs: number): TelemetryResult {
  const parsed = SenmlPack.safeParse(payload);
  if (!parsed.success) return { ok: false, issues: toIssues(parsed.error.issues) };
  const resolved = resolveSenmlPack(parsed.data, nowMs);
  const grouped = senmlToReadings(resolved.records);
  const issues = [...resolved.issues, ...grouped.issues];
  // Resolved times must be plausible like any reading's. Names follow SenML's own rule
  // (section 4.5.1), which the resolver checked, not the native metric-name pattern.
  resolved.records.forEach((record, index) => {
    if (!isPlausibleEventTime(record.timeMs)) issues.push({ path: [index, 't'], message: 'resolved time must be between 2000-01-01 and 24 h after now' });
  });
  if (grouped.readings.length === 0 && issues.length === 0) issues.push({ path: [], message: 'the pack has no record with a value' });
  if (issues.length) return { ok: false, issues: toIssues(issues) };
  return { ok: true, value: { readings: grouped.readings, senml: resolved.records } };
}

/** All readings must name the same device, and agree with the batch's if any. */
function withDeviceId(readings: Reading[], batchDeviceId?: string): TelemetryResult {
  let deviceId = batchDeviceId;
  const issues: Issue[] = [];
  readings.forEach((r, i) => {
    if (r.deviceId === undefined) return;
    if (deviceId === undefined) deviceId = r.deviceId;
    else if (r.deviceId !== deviceId)
      issues.push({ path: `${batchDeviceId ? 'readings.' : ''}${i}.deviceId`, message: `"${r.deviceId}" differs from "${deviceId}"` });
  });
  if (issues.length) return { ok: false, issues };
  return { ok: true, value: { ...(deviceId !== undefined ? { deviceId } : {}), readings } };
}

/** A reading, an array of readings or a batch, each as the schemas return it, from the fast paths; else undefined. */
function fastReadings(payload: unknown): { readings: Reading[]; deviceId?: string } | undefined {
  if (Array.isArray(payload)) {
    const readings = readingArrayFastPath(payload);
    return readings && { readings };
  }
  const reading = readingFastPath(payload);
  return reading ? { readings: [reading] } : readingBatchFastPath(payload);
}
