/**
 * deadletter against real PostgreSQL: every delivery form lands in `rejected` with the
 * attempts, source subscription, original attributes and payload; a redelivery adds nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import deadletter from '../functions/deadletter/index.ts';
import {
  createTestDatabase,
  makeBinaryCloudEvent,
  makePushBody,
  makeUnwrappedPush,
  post,
  startFunction,
  type HttpFixture,
  type MessageFixture,
  type ServedFunction,
  type TestDatabase,
} from './support/kit.ts';

let database: TestDatabase;
let fn: ServedFunction;

beforeAll(async () => {
  database = await createTestDatabase();
  fn = await startFunction(deadletter, { env: { DATABASE_URL: database.url } });
});
afterAll(async () => {
  await fn.close();
  await database.drop();
});

const deadLetterAttributes = {
  deviceId: 'dev-1',
  CloudPubSubDeadLetterSourceDeliveryCount: '5',
  CloudPubSubDeadLetterSourceSubscription: 'telemetry-ingest',
  CloudPubSubDeadLetterSourceSubscriptionProject: 'local-project',
  CloudPubSubDeadLetterSourceTopicPublishTime: '2026-01-01T00:00:00.000Z',
};

interface RejectedRow {
  stage: string;
  reason: string;
  payload: string;
  attributes: Record<string, string>;
  delivery_attempt: string;
  subscription: string;
  detail: Record<string, unknown>;
}

const rowsFor = async (messageId: string) =>
  (
    await database.db.query<RejectedRow>(
      'SELECT stage, reason, payload, attributes, delivery_attempt::text, subscription, detail FROM rejected WHERE message_id = $1',
      [messageId],
    )
  ).rows;

describe('deadletter', () => {
  const forms: { name: string; build: (f: MessageFixture) => HttpFixture }[] = [
    { name: 'wrapped push', build: (f) => makePushBody(f) },
    { name: 'wrapped push, snake_case', build: (f) => makePushBody(f, { snake: true }) },
    { name: 'unwrapped push', build: (f) => makeUnwrappedPush(f) },
    { name: 'binary CloudEvent', build: (f) => makeBinaryCloudEvent(f) },
  ];

  it.each(forms)('stores a dead-lettered message from a $name once, however often it arrives', async ({ build }) => {
    const messageId = `dl-${Math.random().toString(36).slice(2)}`;
    const fixture = build({ data: '{"metrics":{"temp":"not json', attributes: deadLetterAttributes, messageId });
    expect((await post(fn.url, fixture)).status).toBe(200);
    expect((await post(fn.url, fixture)).status).toBe(200);
    const rows = await rowsFor(messageId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      stage: 'deadletter',
      reason: 'dead_lettered',
      payload: '{"metrics":{"temp":"not json',
      delivery_attempt: '5',
      subscription: 'telemetry-ingest',
      detail: { sourceProject: 'local-project', sourcePublishTime: '2026-01-01T00:00:00.000Z' },
    });
    expect(rows[0]?.attributes.deviceId).toBe('dev-1');
  });

  it('keeps a binary payload as base64', async () => {
    const messageId = `dl-bin-${Date.now()}`;
    const data = Buffer.from([0xff, 0x00, 0xfe]);
    expect((await post(fn.url, makePushBody({ data, attributes: deadLetterAttributes, messageId }))).status).toBe(200);
    expect((await rowsFor(messageId))[0]?.payload).toBe(`base64:${data.toString('base64')}`);
  });

  // Payload unwrapping without write metadata sends the data alone: kept, never refused (the
  // dead-letter subscription would redeliver a 400 until the message expired).
  it('stores what an unwrapped push without metadata carries, whatever its bytes', async () => {
    const body = '{"hello":1} and not JSON';
    expect(await post(fn.url, { headers: { 'content-type': 'application/json' }, body })).toMatchObject({ status: 200, body: { recorded: true } });
    const { rows } = await database.db.query<RejectedRow>(
      'SELECT stage, reason, payload, attributes, detail FROM rejected WHERE message_id IS NULL AND payload = $1',
      [body],
    );
    expect(rows).toEqual([
      expect.objectContaining({ stage: 'deadletter', reason: 'dead_lettered', attributes: {}, detail: expect.objectContaining({ form: 'push-unwrapped' }) }),
    ]);
  });

  it('answers 400 naming the problem for a wrapped push whose message is not one', async () => {
    const response = await post(fn.url, { headers: { 'content-type': 'application/json' }, body: '{"message":{"data":"e30="}}' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body)).toContain('message.messageId');
  });
});
