/**
 * Faults between Pub/Sub and the stores, with ingest in-process on real PostgreSQL and the
 * real BigQuery client against the stand-in: the warehouse answering 500/503, hanging up and
 * failing rows for a while; Pub/Sub redelivering (duplicates, out of order) and redelivering
 * while the first delivery is still being written (ingest slower than the ack deadline).
 * Pub/Sub's side is played by a loop that pushes each message until it gets a 2xx.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ingest from '../../functions/ingest/index.ts';
import { bigQueryMeasurementsTable } from '../../schemas/columns.ts';
import { createLogger } from '../../shared/log.ts';
import { createBigQuerySink } from '../../shared/warehouse/bigquery.ts';
import type { WarehouseSink } from '../../shared/warehouse/sink.ts';
import { standInAuth, startBigQueryStandIn, type BigQueryStandIn } from '../support/bigquery-standin.ts';
import { createDevice } from '../support/devices.ts';
import { createTestDatabase, makePushBody, post, startFunction, type ServedFunction, type TestDatabase } from '../support/kit.ts';
import { checkDelivery, eventMsOf, isClean, printFigures, type WarehouseRows } from '../support/device-load.ts';

const DATASET = 'telemetry';
let tdb: TestDatabase;
let standIn: BigQueryStandIn;
let fn: ServedFunction;
/** Set by a test to slow every warehouse write down (ingest slower than the ack deadline). */
let warehouseDelayMs = 0;

beforeAll(async () => {
  tdb = await createTestDatabase();
  standIn = await startBigQueryStandIn();
  standIn.createTable(DATASET, 'measurements', bigQueryMeasurementsTable());
  const auth = standInAuth();
  const sink = createBigQuerySink({
    projectId: 'local-project',
    dataset: DATASET,
    logger: createLogger({ level: 'error' }),
    apiEndpoint: standIn.url,
    authClient: auth,
    initialDelayMs: 5,
    maxDelayMs: 20,
    maxRetries: 2,
  });
  const slowed: WarehouseSink = {
    write: async (rows) => {
      if (warehouseDelayMs) await new Promise((r) => setTimeout(r, warehouseDelayMs));
      return sink.write(rows);
    },
    close: () => sink.close(),
  } as WarehouseSink;
  fn = await startFunction(ingest, { env: { DATABASE_URL: tdb.url }, providers: { warehouse: async () => slowed } });
});

afterAll(async () => {
  await fn?.close();
  await standIn?.close();
  await tdb?.drop();
});

interface Message {
  id: string;
  deviceId: string;
  seqs: number[];
}

function makeMessages(prefix: string, devices: number, perDevice: number, perMessage = 4): Message[] {
  const messages: Message[] = [];
  for (let d = 0; d < devices; d++) {
    for (let m = 0; m < perDevice; m++)
      messages.push({ id: randomUUID(), deviceId: `${prefix}-${d}`, seqs: Array.from({ length: perMessage }, (_, k) => m * perMessage + k) });
  }
  return messages;
}

/** Pushes until a 2xx, as Pub/Sub does; returns the non-2xx answers seen. */
async function deliver(message: Message): Promise<number[]> {
  const body = makePushBody({
    data: {
      deviceId: message.deviceId,
      readings: message.seqs.map((seq) => ({ ts: new Date(eventMsOf(seq)).toISOString(), seq, metrics: { temperature: seq / 10, ok: true } })),
    },
    attributes: { deviceId: message.deviceId },
    messageId: message.id,
  });
  const failures: number[] = [];
  for (;;) {
    const response = await post(fn.url, body);
    if (response.status < 300) {
      expect(response.body).toMatchObject({ status: 'ok' });
      return failures;
    }
    failures.push(response.status);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function deliverAll(deliveries: Message[], concurrency = 16): Promise<number[]> {
  const queue = [...deliveries];
  const failures: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let m = queue.shift(); m; m = queue.shift()) failures.push(...(await deliver(m)));
    }),
  );
  return failures;
}

const warehouseRows: WarehouseRows = async (ids) =>
  standIn
    .storedRows(DATASET, 'measurements')
    .filter((r) => ids.includes(String(r.device_id)))
    .map((r) => ({ device_id: String(r.device_id), seq: Number(r.seq), metric: String(r.metric) }));

const acceptedOf = (messages: Message[]) => {
  const accepted = new Map<string, number[]>();
  for (const m of messages) accepted.set(m.deviceId, [...(accepted.get(m.deviceId) ?? []), ...m.seqs]);
  return accepted;
};

async function registerDevices(prefix: string, n: number): Promise<void> {
  for (let d = 0; d < n; d++) await createDevice(tdb.db, { deviceId: `${prefix}-${d}` });
}

describe('ingest under warehouse and Pub/Sub faults', () => {
  it('the warehouse failing for a while (500, 503, hang-ups, row errors) loses and duplicates nothing', async () => {
    await registerDevices('wh', 5);
    const messages = makeMessages('wh', 5, 60);
    standIn.failNext(
      ...Array.from({ length: 12 }, (_, i) => ({ kind: 'status' as const, status: i % 2 ? 503 : 500 })),
      { kind: 'hangUp' },
      { kind: 'hangUp' },
      ...Array.from({ length: 8 }, () => ({ kind: 'rowErrors' as const, reason: 'backendError', match: (id: string) => id.charCodeAt(0) % 2 === 0 })),
    );
    const started = Date.now();
    const failures = await deliverAll(messages);
    const report = await checkDelivery(tdb.db, warehouseRows, acceptedOf(messages));
    printFigures('warehouse 500/503, hang-ups, partial insertErrors', {
      ...report,
      faultsInjected: 22,
      redeliveries: failures.length,
      statuses: failures.reduce<Record<string, number>>((a, s) => ({ ...a, [s]: (a[s] ?? 0) + 1 }), {}),
      recoveryMs: Date.now() - started,
    });
    expect(isClean(report), JSON.stringify(report)).toBe(true);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((s) => s === 503 || s === 429)).toBe(true);
  });

  it('duplicate and out-of-order deliveries land once; device_state is the newest reading', async () => {
    await registerDevices('dup', 5);
    const messages = makeMessages('dup', 5, 60);
    // Every message two or three times, in shuffled order, so later readings often arrive first.
    const deliveries = messages.flatMap((m, i) => (i % 3 === 0 ? [m, m, m] : [m, m])).sort(() => Math.random() - 0.5);
    const failures = await deliverAll(deliveries);
    const report = await checkDelivery(tdb.db, warehouseRows, acceptedOf(messages));
    printFigures('Pub/Sub duplicates and out-of-order delivery', {
      ...report,
      deliveries: deliveries.length,
      duplicatesInjected: deliveries.length - messages.length,
      redeliveries: failures.length,
    });
    expect(isClean(report), JSON.stringify(report)).toBe(true);
  });

  it('a redelivery while the first delivery is still being written (slower than the ack deadline) lands once', async () => {
    await registerDevices('slow', 4);
    const messages = makeMessages('slow', 4, 10);
    warehouseDelayMs = 1_500;
    try {
      // The first delivery is in flight when the "ack deadline" passes and Pub/Sub sends it again.
      await Promise.all(
        messages.map(async (m) => {
          const first = deliver(m);
          await new Promise((r) => setTimeout(r, 300));
          await Promise.all([first, deliver(m)]);
        }),
      );
    } finally {
      warehouseDelayMs = 0;
    }
    const report = await checkDelivery(tdb.db, warehouseRows, acceptedOf(messages));
    printFigures('redelivery during a slow write (past the ack deadline)', { ...report, deliveries: messages.length * 2 });
    expect(isClean(report), JSON.stringify(report)).toBe(true);
  });
});
