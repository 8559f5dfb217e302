/**
 * SenML packs (JSON representation) and their resolution into readings.
 * @see https://www.rfc-editor.org/rfc/rfc8428 (sections 4.1 to 4.6)
 */
import { z } from 'zod';
import { MAX_READINGS_PER_REQUEST, METRIC_NAME_PATTERN, Text, type Reading } from './reading.ts';

/** Highest SenML version this resolver understands (RFC 8428 defines 10). */
export const SENML_VERSION = 10;
/** Times below 2**28 seconds are relative to "now" (RFC 8428 section 4.5.3). */
const RELATIVE_TIME_LIMIT_S = 2 ** 28;
const SENML_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:./_-]*$/;

/**
 * One SenML record. Unknown labels are ignored (section 4.4), except labels ending in `_`,
 * which the receiver must understand and therefore refuses.
 */
export const SenmlRecord = z
  .looseObject({
    bn: z.string().optional(),
    bt: z.number().optional(),
    bu: Text.max(32).optional(),
    bv: z.number().optional(),
    bs: z.number().optional(),
    bver: z.int().min(1).max(SENML_VERSION, { error: `SenML version above ${SENML_VERSION} is not supported` }).optional(),
    n: z.string().optional(),
    u: Text.max(32).optional(),
    v: z.number().optional(),
    vs: Text.max(1024).optional(),
    vb: z.boolean().optional(),
    vd: Text.max(1024).optional(),
    s: z.number().optional(),
    t: z.number().optional(),
    ut: z.number().optional(),
  })
  .superRefine((record, ctx) => {
    for (const label of Object.keys(record)) {
      if (label.endsWith('_')) {
        ctx.addIssue({ code: 'custom', path: [label], message: `must-understand label "${label}" is not supported` });
      }
    }
    const values = ['v', 'vs', 'vb', 'vd'].filter((k) => record[k] !== undefined);
    if (values.length > 1) {
      ctx.addIssue({ code: 'custom', path: [], message: `a record carries one value, found ${values.join(', ')}` });
    }
  });
export type SenmlRecord = z.infer<typeof SenmlRecord>;

export const SenmlPack = z.array(SenmlRecord).min(1, { error: 'a SenML pack needs at least one record' }).max(10_000);
export type SenmlPack = z.infer<typeof SenmlPack>;

/** A record after base values are applied (RFC 8428 section 4.6). */
export interface ResolvedRecord {
  name: string;
  metric: string;
  timeMs: number;
  unit?: string;
  value: number | boolean | string;
}

export interface ResolutionIssue {
  path: (string | number)[];
  message: string;
}

/** Resolve base fields and relative times; `nowMs` anchors relative times. */
export function resolveSenmlPack(pack: SenmlPack, nowMs: number): { records: ResolvedRecord[]; issues: ResolutionIssue[] } {
  const records: ResolvedRecord[] = [];
  const issues: ResolutionIssue[] = [];
  let baseName = '';
  let baseTime = 0;
  let baseUnit: string | undefined;
  let baseValue: number | undefined;
  let baseSum: number | undefined;

  pack.forEach((record, index) => {
    // Base fields apply to this record and every later one until redefined.
    if (record.bn !== undefined) baseName = record.bn;
    if (record.bt !== undefined) baseTime = record.bt;
    if (record.bu !== undefined) baseUnit = record.bu;
    if (record.bv !== undefined) baseValue = record.bv;
    if (record.bs !== undefined) baseSum = record.bs;

    const name = baseName + (record.n ?? '');
    if (!SENML_NAME_PATTERN.test(name)) {
      issues.push({ path: [index, 'n'], message: `resolved name "${name}" is not a valid SenML name` });
      return;
    }
    // The base name identifies the device or resource; the metric is the record's own name.
    const metric = record.n ? record.n : name;
    if (!METRIC_NAME_PATTERN.test(metric)) {
      issues.push({ path: [index, 'n'], message: `"${metric}" is not a valid metric name` });
      return;
    }
    const value = resolveValue(record, baseValue, baseSum);
    if (value === undefined) {
      issues.push({ path: [index], message: 'record has no value (v, vs, vb, vd or s)' });
      return;
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      issues.push({ path: [index, 'v'], message: 'resolved value is not finite' });
      return;
    }
    const seconds = baseTime + (record.t ?? 0);
    const timeMs = Math.round(seconds < RELATIVE_TIME_LIMIT_S ? nowMs + seconds * 1000 : seconds * 1000);
    const unit = record.u ?? baseUnit;
    records.push({ name, metric, timeMs, value, ...(unit !== undefined ? { unit } : {}) });
  });
  return { records, issues };
}

function resolveValue(record: SenmlRecord, baseValue: number | undefined, baseSum: number | undefined) {
  if (record.v !== undefined) return (baseValue ?? 0) + record.v;
  if (record.vs !== undefined) return record.vs;
  if (record.vb !== undefined) return record.vb;
  if (record.vd !== undefined) return record.vd;
  if (record.s !== undefined) return (baseSum ?? 0) + record.s;
  return baseValue;
}

/** Group resolved records into readings, one per distinct time, oldest first. */
export function senmlToReadings(records: ResolvedRecord[]): { readings: Reading[]; issues: ResolutionIssue[] } {
  const byTime = new Map<number, Reading>();
  const issues: ResolutionIssue[] = [];
  for (const record of records) {
    let reading = byTime.get(record.timeMs);
    if (!reading) {
      reading = { ts: record.timeMs, metrics: {} };
      byTime.set(record.timeMs, reading);
    }
    if (record.metric in reading.metrics) {
      issues.push({ path: [], message: `metric "${record.metric}" appears twice at the same time` });
      continue;
    }
    reading.metrics[record.metric] = record.value;
    if (record.unit !== undefined) (reading.units ??= {})[record.metric] = record.unit;
  }
  const readings = [...byTime.values()].sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  if (readings.length > MAX_READINGS_PER_REQUEST) {
    issues.push({ path: [], message: `a pack resolves to at most ${MAX_READINGS_PER_REQUEST} distinct times` });
  }
  return { readings, issues };
}
