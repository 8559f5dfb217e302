/** Validated readings to stored rows (functions/ingest/to-rows.ts). */
import { describe, expect, it } from 'vitest';
import type { DeviceInfo } from '../../../functions/ingest/device-directory.ts';
import { readingIdOf } from '../../../functions/ingest/reading-id.ts';
import { toRows, type RowContext } from '../../../functions/ingest/to-rows.ts';

const device: DeviceInfo = { deviceId: 'dev-1', numId: 42, registry: 'reg-a', site: 'plant-1', tags: { line: '1', owner: 'ops' }, blocked: false };
const ctx: RowContext = {
  device,
  defaultEventMs: Date.UTC(2026, 3, 2, 10),
  receivedAt: new Date(Date.UTC(2026, 3, 2, 10, 0, 1)),
  ingestedAt: new Date(Date.UTC(2026, 3, 2, 10, 0, 2)),
  messageId: 'm-1',
};

describe('toRows', () => {
  it('writes one readings row per reading and one measurement per metric, each value in its typed column', () => {
    const ts = Date.UTC(2026, 3, 2, 9);
    const rows = toRows(
      [{ ts, seq: 3, metrics: { t: 21.5, door: true, status: 'ok' }, units: { t: 'Cel' }, location: { lat: 52.5, lon: 13.4 }, tags: { line: '2' } }],
      ctx,
    );
    const readingId = readingIdOf('dev-1', ts, { seq: 3, metrics: {} });
    expect(rows.readings).toEqual([
      {
        reading_id: readingId,
        device_id: 'dev-1',
        event_ts: new Date(ts),
        received_at: ctx.receivedAt,
        metrics: { t: 21.5, door: true, status: 'ok' },
        seq: 3,
        location: { lat: 52.5, lon: 13.4 },
        message_id: 'm-1',
      },
    ]);
    expect(rows.measurements.map((m) => [m.metric, m.value, m.value_bool, m.value_text, m.unit])).toEqual([
      ['t', 21.5, null, null, 'Cel'],
      ['door', null, true, null, null],
      ['status', null, null, 'ok', null],
    ]);
    expect(rows.measurements[0]).toMatchObject({
      reading_id: readingId,
      registry: 'reg-a',
      site: 'plant-1',
      lat: 52.5,
      lon: 13.4,
      seq: 3,
      ingested_at: ctx.ingestedAt,
    });
    // The reading's tags win over the device's.
    expect(rows.measurements[0]?.tags).toEqual({ line: '2', owner: 'ops' });
  });

  it('stamps a reading without ts at the default event time, and stores no tags as null', () => {
    const rows = toRows([{ metrics: { t: 1 } }], { ...ctx, device: { ...device, tags: {} } });
    expect(rows.readings[0]?.event_ts).toEqual(new Date(ctx.defaultEventMs));
    expect(rows.measurements[0]).toMatchObject({ tags: null, seq: null, lat: null });
  });

  it('keeps the first of two readings with one identity in a message, in both stores', () => {
    const rows = toRows(
      [
        { seq: 1, metrics: { t: 1 } },
        { seq: 1, metrics: { t: 2 } },
      ],
      ctx,
    );
    expect(rows.readings).toHaveLength(1);
    expect(rows.measurements.map((m) => m.value)).toEqual([1]);
  });
});
