/**
 * SenML packs (JSON representation) and their resolution into readings.
 * @see https://www.rfc-editor.org/rfc/rfc8428 (sections 4.1 to 4.6)
 */
import { z } from 'zod';
import { MAX_METRICS_PER_READING, MAX_READINGS_PER_REQUEST, Text, type Reading } from './reading.ts';

/** Highest SenML version this resolver understands (RFC 8428 defines 10). */
export const SENML_VERSION = 10;
/** Times below 2**28 seconds are relative to "now" (RFC 8428 section 4.5.3). */
const RELATIVE_TIME_LIMIT_S = 2 ** 28;
/** Resolved names: section 4.5.1 (letters, digits, `-:./_`, first a letter or digit). */
export const SENML_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:./_-]{0,254}$/;

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
    bver: z
      .int()
      .min(1)
      .max(SENML_VERSION, { error: `SenML version above ${SENML_VERSION} is not supported` })
      .optional(),
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
  /** The resolved SenML name: base name + name (section 4.5.1). */
  name: string;
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

    // A record of base fields only (RFC 8428 section 5.1.7's first record) carries no value.
    if (record.n === undefined && !hasValue(record)) return;
    const name = baseName + (record.n ?? '');
    if (!SENML_NAME_PATTERN.test(name)) {
      issues.push({ path: [index, 'n'], message: `resolved name "${name.slice(0, 300)}" is not a valid SenML name (RFC 8428 section 4.5.1)` });
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
    records.push({ name, timeMs, value, ...(unit !== undefined ? { unit } : {}) });
  });
  return { records, issues };
}

const hasValue = (record: SenmlRecord): boolean =>
  record.v !== undefined || record.vs !== undefined || record.vb !== undefined || record.vd !== undefined || record.s !== undefined;

function resolveValue(record: SenmlRecord, baseValue: number | undefined, baseSum: number | undefined) {
  if (record.v !== undefined) return (baseValue ?? 0) + record.v;
  if (record.vs !== undefined) return record.vs;
  if (record.vb !== undefined) return record.vb;
  if (record.vd !== undefined) return record.vd;
  if (record.s !== undefined) return (baseSum ?? 0) + record.s;
  return baseValue;
}

/**
 * The metric a resolved record is stored under: its resolved SenML name, or, when that name
 * occurs at the same time with more than one unit (RFC 8428 section 5.1.3: humidity,
 * longitude and latitude of one device), the name followed by `[unit]`. Brackets cannot
 * occur in a SenML name, so the name is always the metric up to the first `[`.
 * @see ../docs/devices.md "SenML"
 */
function senmlMetricName(name: string, unit: string | undefined, qualified: boolean): string {
  return qualified && unit !== undefined ? `${name}[${unit}]` : name;
}

/** The SenML name a stored metric came from (the inverse of senmlMetricName). */
export function senmlNameOfMetric(metric: string): string {
  const bracket = metric.indexOf('[');
  return bracket === -1 ? metric : metric.slice(0, bracket);
}

/**
 * Groups resolved records into readings, one per distinct time, oldest first. Nothing is
 * merged: a name with several units at one time is qualified by unit, and a record that
 * repeats a name, unit and time is refused rather than overwriting the first.
 */
export function senmlToReadings(records: ResolvedRecord[]): { readings: Reading[]; issues: ResolutionIssue[] } {
  const unitsAt = new Map<string, Set<string | undefined>>();
  for (const r of records) {
    const key = `${r.timeMs}\u0000${r.name}`;
    const units = unitsAt.get(key) ?? new Set();
    units.add(r.unit);
    unitsAt.set(key, units);
  }
  const byTime = new Map<number, Reading>();
  const issues: ResolutionIssue[] = [];
  for (const record of records) {
    let reading = byTime.get(record.timeMs);
    if (!reading) {
      reading = { ts: record.timeMs, metrics: {} };
      byTime.set(record.timeMs, reading);
    }
    const qualified = (unitsAt.get(`${record.timeMs}\u0000${record.name}`)?.size ?? 0) > 1;
    const metric = senmlMetricName(record.name, record.unit, qualified);
    if (metric in reading.metrics) {
      issues.push({ path: [], message: `"${metric}" has two values at the same time` });
      continue;
    }
    reading.metrics[metric] = record.value;
    if (record.unit !== undefined) (reading.units ??= {})[metric] = record.unit;
  }
  const readings = [...byTime.values()].sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  if (readings.length > MAX_READINGS_PER_REQUEST) {
    issues.push({ path: [], message: `a pack resolves to at most ${MAX_READINGS_PER_REQUEST} distinct times` });
  }
  for (const reading of readings) {
    if (Object.keys(reading.metrics).length > MAX_METRICS_PER_READING) {
      issues.push({ path: [], message: `at most ${MAX_METRICS_PER_READING} values at one time` });
      break;
    }
  }
  return { readings, issues };
}

/**
 * The resolved form of a pack (RFC 8428 section 4.6): every record with its full name,
 * absolute time and unit. The bridge publishes this, so that ingest sees the times the
 * bridge anchored and the same names.
 */
export function toResolvedPack(records: readonly ResolvedRecord[]): Record<string, unknown>[] {
  return records.map((r) => ({
    n: r.name,
    t: r.timeMs / 1000,
    ...(r.unit !== undefined ? { u: r.unit } : {}),
    ...(typeof r.value === 'number' ? { v: r.value } : typeof r.value === 'boolean' ? { vb: r.value } : { vs: r.value }),
  }));
}
