/**
 * SenML resolution against the examples of RFC 8428 section 5.
 * @see https://www.rfc-editor.org/rfc/rfc8428#section-5
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../schemas/reading.ts';
import { resolveSenmlPack, SenmlPack, senmlNameOfMetric, toResolvedPack } from '../../schemas/senml.ts';
import { parseTelemetry } from '../../shared/telemetry.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const resolve = (pack: unknown) => resolveSenmlPack(SenmlPack.parse(pack), NOW);

describe('RFC 8428 examples', () => {
  it('5.1.1 single datapoint: no time means now', () => {
    const { records, issues } = resolve([{ n: 'urn:dev:ow:10e2073a01080063', u: 'Cel', v: 23.1 }]);
    expect(issues).toEqual([]);
    expect(records).toEqual([{ name: 'urn:dev:ow:10e2073a01080063', timeMs: NOW, unit: 'Cel', value: 23.1 }]);
  });

  it('5.1.2 multiple datapoints: base name prefixes each name', () => {
    const { records } = resolve([
      { bn: 'urn:dev:ow:10e2073a01080063:', n: 'voltage', u: 'V', v: 120.1 },
      { n: 'current', u: 'A', v: 1.2 },
    ]);
    expect(records.map((r) => [r.name, r.unit, r.value])).toEqual([
      ['urn:dev:ow:10e2073a01080063:voltage', 'V', 120.1],
      ['urn:dev:ow:10e2073a01080063:current', 'A', 1.2],
    ]);
  });

  it('5.1.3 multiple measurements: base time, relative offsets, base unit and bver', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a0108006:', bt: 1.276020076001e9, bu: 'A', bver: 5, n: 'voltage', u: 'V', v: 120.1 },
      { n: 'current', t: -5, v: 1.2 },
      { n: 'current', t: -4, v: 1.3 },
      { n: 'current', t: -3, v: 1.4 },
      { n: 'current', t: -2, v: 1.5 },
      { n: 'current', t: -1, v: 1.6 },
      { n: 'current', v: 1.7 },
    ];
    const { records, issues } = resolve(pack);
    expect(issues).toEqual([]);
    expect(records.map((r) => r.timeMs)).toEqual([0, -5, -4, -3, -2, -1, 0].map((t) => Math.round((1.276020076001e9 + t) * 1000)));
    expect(records.slice(1).every((r) => r.unit === 'A')).toBe(true);
    expect(records[0]?.unit).toBe('V');
  });

  it('5.1.5 multiple data types: v, vs, vb, vd', () => {
    const { records } = resolve([
      { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.320067464e9, n: 'temperature', u: 'Cel', v: 23.1 },
      { n: 'label', vs: 'Machine Room' },
      { n: 'open', vb: false },
      { n: 'nfc-reader', vd: 'aGkgCg' },
    ]);
    expect(records.map((r) => r.value)).toEqual([23.1, 'Machine Room', false, 'aGkgCg']);
  });

  it('base value and base sum are added', () => {
    const { records } = resolve([{ bn: 'meter:', bv: 100, bs: 5, n: 'a', v: 1 }, { n: 'b' }, { n: 'c', s: 2 }]);
    expect(records.map((r) => [r.name, r.value])).toEqual([
      ['meter:a', 101],
      ['meter:b', 100],
      ['meter:c', 7],
    ]);
  });
});

describe('refusals', () => {
  it.each([
    ['a must-understand label', [{ n: 'x', v: 1, ext_: 1 }], '0.ext_'],
    ['a version above 10', [{ bver: 11, n: 'x', v: 1 }], '0.bver'],
    ['two values in one record', [{ n: 'x', v: 1, vs: 'a' }], '0'],
    ['an empty pack', [], ''],
  ])('%s', (_name, pack, path) => {
    const result = parseTelemetry(pack, { nowMs: NOW, senml: true });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.some((i) => i.path === path)).toBe(true);
  });

  it('a record without a value, and an invalid resolved name', () => {
    const result = parseTelemetry([{ n: 'x' }, { bn: '', n: '-bad', v: 1 }], { nowMs: NOW, senml: true });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.path)).toEqual(['0', '1.n']);
  });
});

describe('SenML to readings', () => {
  it('groups records by time into readings with units', () => {
    const result = parseTelemetry(
      [
        { bn: 'dev:', bt: 1.7672256e9, n: 'temp', u: 'Cel', v: 21 },
        { n: 'hum', u: '%RH', v: 40 },
        { n: 'temp', t: 60, v: 22 },
      ],
      { nowMs: NOW, senml: true },
    );
    expect(result).toEqual({
      ok: true,
      value: {
        senml: expect.any(Array),
        readings: [
          { ts: 1_767_225_600_000, metrics: { 'dev:temp': 21, 'dev:hum': 40 }, units: { 'dev:temp': 'Cel', 'dev:hum': '%RH' } },
          { ts: 1_767_225_660_000, metrics: { 'dev:temp': 22 } },
        ],
      },
    });
  });

  it('relative times (below 2**28 s) are anchored on the receive time', () => {
    const result = parseTelemetry([{ n: 'temp', t: -30, v: 1 }], { nowMs: NOW, senml: true });
    expect(result.ok && result.value.readings[0]?.ts).toBe(NOW - 30_000);
  });
});

interface Rfc8428Example {
  section: string;
  title: string;
  pack: Record<string, unknown>[];
}
const { examples } = JSON.parse(readFileSync(new URL('../fixtures/rfc8428-section-5.json', import.meta.url), 'utf8')) as { examples: Rfc8428Example[] };

/** Every stored value as (SenML name, unit, time, value), from the readings alone. */
const storedValues = (readings: Reading[]) =>
  readings.flatMap((r) => Object.entries(r.metrics).map(([metric, value]) => [senmlNameOfMetric(metric), r.units?.[metric] ?? null, r.ts, value]));

describe('every example of RFC 8428 section 5, value for value', () => {
  it.each(examples)('$section $title', ({ pack }) => {
    const result = parseTelemetry(pack, { nowMs: NOW, senml: true });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const records = result.value.senml ?? [];
    // One record per value the pack carries (5.1.7's first record carries only a base name).
    expect(records).toHaveLength(pack.filter((r) => ['v', 'vs', 'vb', 'vd', 's'].some((k) => k in r)).length);
    // Nothing merged or dropped, and the resolved name is recoverable from the metric.
    expect(storedValues(result.value.readings).sort()).toEqual(records.map((r) => [r.name, r.unit ?? null, r.timeMs, r.value]).sort());
    // The metric is the SenML name, unless the name has several units at one time.
    for (const reading of result.value.readings) {
      for (const metric of Object.keys(reading.metrics))
        expect(metric === senmlNameOfMetric(metric) || metric.endsWith(`[${reading.units?.[metric] ?? ''}]`)).toBe(true);
    }
  });

  it('round-trips: the resolved pack the bridge publishes parses to the same readings', () => {
    for (const { pack } of examples) {
      const first = parseTelemetry(pack, { nowMs: NOW, senml: true });
      if (!first.ok) throw new Error('unreachable');
      const again = parseTelemetry(toResolvedPack(first.value.senml ?? []), { nowMs: NOW + 60_000 });
      expect(again.ok && again.value.readings).toEqual(first.value.readings);
    }
  });

  it('5.1.3: one name with three units at a time is stored as three metrics, qualified by unit', () => {
    const pack = examples.find((e) => e.section === '5.1.3')?.pack;
    const result = parseTelemetry(pack, { nowMs: NOW, senml: true });
    expect(result.ok && result.value.readings[0]).toEqual({
      ts: 1_320_067_464_000,
      metrics: { 'urn:dev:ow:10e2073a01080063[%RH]': 20, 'urn:dev:ow:10e2073a01080063[lon]': 24.30621, 'urn:dev:ow:10e2073a01080063[lat]': 60.07965 },
      units: { 'urn:dev:ow:10e2073a01080063[%RH]': '%RH', 'urn:dev:ow:10e2073a01080063[lon]': 'lon', 'urn:dev:ow:10e2073a01080063[lat]': 'lat' },
    });
    // Alone at its time, the battery level keeps the plain name (its unit is in `unit`).
    expect(result.ok && result.value.readings.find((r) => r.ts === 1_320_067_614_000)?.metrics).toEqual({ 'urn:dev:ow:10e2073a01080063': 98 });
  });

  it('5.1.6: two base names in one pack, names starting with a digit', () => {
    const pack = examples.find((e) => e.section === '5.1.6')?.pack;
    const result = parseTelemetry(pack, { nowMs: NOW, senml: true });
    expect(result.ok && result.value.readings).toEqual([
      {
        ts: 1_320_078_429_000,
        metrics: { '2001:db8::2/temperature': 25.2, '2001:db8::2/humidity': 30, '2001:db8::1/temperature': 12.3, '2001:db8::1/humidity': 67 },
        units: { '2001:db8::2/temperature': 'Cel', '2001:db8::2/humidity': '%RH', '2001:db8::1/temperature': 'Cel', '2001:db8::1/humidity': '%RH' },
      },
    ]);
  });

  it('refuses a record repeating a name, unit and time rather than overwriting', () => {
    const result = parseTelemetry(
      [
        { n: 'a', u: 'V', v: 1 },
        { n: 'a', u: 'V', v: 2 },
      ],
      { nowMs: NOW, senml: true },
    );
    expect(result.ok).toBe(false);
  });
});
