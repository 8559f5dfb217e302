/**
 * The HTTP side every Pub/Sub-facing function shares (shared/runtime/push-function.ts), with a
 * handler of the test's own against real PostgreSQL: what it answers for each outcome, and
 * that a permanent failure is recorded in `rejected` before it is acknowledged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../../shared/errors.ts';
import { defineFunction } from '../../../shared/runtime/function.ts';
import { createPushListener } from '../../../shared/runtime/push-function.ts';
import { createTestDatabase, makePushBody, post, startFunction, type ServedFunction, type TestDatabase } from '../../support/kit.ts';

/** Does what the message's data says: succeed, fail for good, or fail for now. */
const echo = defineFunction({
  name: 'echo',
  create: (platform) => ({
    listener: createPushListener({
      stage: 'ingest',
      platform,
      handle: async (message) => {
        const { outcome } = JSON.parse(message.data.toString('utf8')) as { outcome: string };
        if (outcome === 'permanent')
          throw new PermanentError('bad_thing', 'the test refuses this message', { issues: [{ path: 'outcome', message: 'permanent' }] });
        if (outcome === 'transient') throw new TransientError('the test store is down');
        return { handled: outcome };
      },
    }),
  }),
});

let database: TestDatabase;
let fn: ServedFunction;

beforeAll(async () => {
  database = await createTestDatabase();
  fn = await startFunction(echo, { env: { DATABASE_URL: database.url } });
});
afterAll(async () => {
  await fn.close();
  await database.drop();
});

describe('push function', () => {
  it('answers 200 with what the handler returned', async () => {
    const answer = await post(`${fn.url}/`, makePushBody({ data: { outcome: 'fine' } }));
    expect(answer).toMatchObject({ status: 200, body: { status: 'ok', handled: 'fine' } });
  });

  it('records a permanent failure in `rejected`, then acknowledges it with 200', async () => {
    const messageId = 'push-function-permanent';
    const answer = await post(`${fn.url}/`, makePushBody({ data: { outcome: 'permanent' }, messageId }));
    expect(answer).toMatchObject({ status: 200, body: { status: 'rejected', reason: 'bad_thing' } });
    const { rows } = await database.db.query<{ stage: string; reason: string }>('SELECT stage, reason FROM rejected WHERE message_id = $1', [messageId]);
    expect(rows).toEqual([{ stage: 'ingest', reason: 'bad_thing' }]);
  });

  it('answers 503 for a transient failure, so that Pub/Sub redelivers', async () => {
    const answer = await post(`${fn.url}/`, makePushBody({ data: { outcome: 'transient' } }));
    expect(answer.status).toBe(503);
  });

  it('refuses what is not a Pub/Sub push: not JSON, another path, another method', async () => {
    expect(await post(`${fn.url}/`, { headers: { 'content-type': 'application/json' }, body: '{"message": ' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_json' },
    });
    expect((await post(`${fn.url}/elsewhere`, makePushBody({ data: { outcome: 'fine' } }))).status).toBe(404);
    expect((await fetch(`${fn.url}/`)).status).toBe(405);
  });
});
