/**
 * The HTTP side every Pub/Sub-facing function shares (shared/runtime/push-function.ts), with a
 * handler of the test's own against real PostgreSQL: what it answers for each outcome, and
 * that a permanent failure is recorded in `rejected` before it is acknowledged. The same
 * function's in-process door (the local stack's pushes) answers every case as HTTP does.
 */
import { getHeapStatistics } from 'node:v8';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../../shared/errors.ts';
import { defineFunction } from '../../../shared/runtime/function.ts';
import { createPushFunction } from '../../../shared/runtime/push-function.ts';
import type { InProcessHandler } from '../../../shared/runtime/http.ts';
import { createTestDatabase, makePushBody, post, startFunction, type HttpFixture, type ServedFunction, type TestDatabase } from '../../support/kit.ts';
import { rawConnection, waitFor } from '../../support/net.ts';

/** Does what the message's data says: succeed, fail for good, or fail for now. */
const echo = defineFunction({
  name: 'echo',
  create: (platform) =>
    createPushFunction({
      stage: 'ingest',
      platform,
      handle: async (message) => {
        const { outcome } = JSON.parse(message.data.toString('utf8')) as { outcome: string };
        if (outcome === 'permanent')
          throw new PermanentError('bad_thing', 'the test refuses this message', { issues: [{ path: 'outcome', message: 'permanent' }] });
        if (outcome === 'transient') throw new TransientError('the test store is down');
        return { handled: outcome };
      },
      memoryPerMessageByte: 8,
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

  it('hands a body without Pub/Sub marks to the handler as the data of an unwrapped push without metadata', async () => {
    expect(await post(`${fn.url}/`, { headers: { 'content-type': 'application/json' }, body: '{"outcome":"raw"}' })).toMatchObject({
      status: 200,
      body: { status: 'ok', handled: 'raw' },
    });
  });

  it('refuses a wrapped push whose message is not one, another path, another method', async () => {
    expect(await post(`${fn.url}/`, { headers: { 'content-type': 'application/json' }, body: '{"message": 5}' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_argument', issues: [{ path: 'message' }] },
    });
    expect((await post(`${fn.url}/elsewhere`, makePushBody({ data: { outcome: 'fine' } }))).status).toBe(404);
    expect((await fetch(`${fn.url}/`)).status).toBe(405);
  });
});

describe('push function, handed a push in process', () => {
  /** What the in-process door answers for a fixture, in the shape `post` returns over HTTP. */
  const hand = async (fixture: HttpFixture, path = '/') => {
    const handler = fn.inProcess as InProcessHandler;
    const body = Buffer.from(fixture.body ?? '');
    const answer = await handler({ method: 'POST', path, headers: { ...fixture.headers, 'content-length': String(body.length) }, body });
    return { status: answer.status, body: answer.body };
  };

  it('is offered by every push function', () => {
    expect(typeof fn.inProcess).toBe('function');
  });

  it.each([
    ['handled', makePushBody({ data: { outcome: 'fine' } })],
    ['transient', makePushBody({ data: { outcome: 'transient' } })],
    ['not a message', { headers: { 'content-type': 'application/json' }, body: '{"message": 5}' }],
    ['unwrapped without metadata', { headers: { 'content-type': 'application/json' }, body: '{"outcome": "raw"}' }],
  ])('answers a %s push exactly as over HTTP', async (_, fixture) => {
    const overHttp = await post(`${fn.url}/`, fixture);
    const inProcess = await hand(fixture);
    expect(inProcess).toEqual({ status: overHttp.status, body: overHttp.body });
  });

  it('records a permanent failure in `rejected` before it acknowledges it', async () => {
    const messageId = 'push-function-permanent-in-process';
    expect(await hand(makePushBody({ data: { outcome: 'permanent' }, messageId }))).toMatchObject({
      status: 200,
      body: { status: 'rejected', reason: 'bad_thing' },
    });
    const { rows } = await database.db.query<{ stage: string }>('SELECT stage FROM rejected WHERE message_id = $1', [messageId]);
    expect(rows).toEqual([{ stage: 'ingest' }]);
  });

  it('refuses new pushes once the function is stopping, as its closed port does', async () => {
    const other = await startFunction(echo, { env: { DATABASE_URL: database.url } });
    const door = other.inProcess as InProcessHandler;
    await other.close();
    const body = Buffer.from(makePushBody({ data: { outcome: 'fine' } }).body ?? '');
    expect(await door({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body })).toMatchObject({ status: 503 });
  });

  it('keeps the body limit and the routes', async () => {
    const huge = makePushBody({ data: { outcome: 'fine', pad: 'x'.repeat(17 * 1024 * 1024) } });
    expect((await hand(huge)).status).toBe(413);
    expect((await hand(makePushBody({ data: { outcome: 'fine' } }), '/elsewhere')).status).toBe(404);
  });
});

describe('push function, its budget of message bytes in flight', () => {
  /** The budget this function gets: room for one padded push, or for a few plain ones. */
  const CAPACITY = 4_000;
  let holding: Promise<void> = Promise.resolve();
  let letGo: () => void = () => undefined;
  /** Handles a message at once, or holds it until the test lets go. */
  const tight = defineFunction({
    name: 'tight',
    create: (platform) =>
      createPushFunction({
        stage: 'ingest',
        platform,
        handle: async (message) => {
          if (message.data.toString('utf8').includes('hold')) await holding;
          return {};
        },
        memoryPerMessageByte: getHeapStatistics().heap_size_limit / 2 / CAPACITY,
      }),
  });
  /** A wrapped push of about `bytes` bytes. */
  const pushOf = (outcome: string, bytes: number) => {
    const fixture = makePushBody({ data: { outcome } });
    return { ...fixture, body: `${fixture.body ?? ''}${' '.repeat(Math.max(0, bytes - Buffer.byteLength(fixture.body ?? '')))}` };
  };
  /** The request's head as a client writes it, its body declared. */
  const head = (bytes: number) => `POST / HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: ${bytes}\r\n\r\n`;
  /** The push's status, or 'no answer' when none came within `ms` (a push with no room waits 20 s for a 429). */
  const answeredWithin = (url: string, fixture: HttpFixture, ms: number) =>
    Promise.race([post(url, fixture).then((answer) => answer.status), new Promise((resolve) => setTimeout(resolve, ms, 'no answer'))]);

  // A fresh budget for each case: what one case left held must not fail the next.
  let served: ServedFunction;
  beforeEach(async () => {
    served = await startFunction(tight, { env: { DATABASE_URL: database.url } });
  });
  afterEach(async () => {
    await served.close();
  });

  it('gets back the share of a push whose caller went away while it waited for room', async () => {
    holding = new Promise((resolve) => (letGo = resolve));
    // The whole budget, held.
    const held = post(`${served.url}/`, pushOf('hold', CAPACITY));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // A push that waits for room behind it, and whose caller hangs up.
    const gone = await rawConnection(served.url);
    const body = pushOf('gone', 3_000).body;
    gone.socket.write(head(Buffer.byteLength(body)) + body);
    await new Promise((resolve) => setTimeout(resolve, 200));
    gone.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    letGo();
    expect((await held).status).toBe(200);
    // Fits only if the push that went away holds nothing.
    expect(await answeredWithin(`${served.url}/`, pushOf('fine', 2_000), 5_000)).toBe(200);
  });

  it('gives back the share of a caller that declared a body and sends nothing once the body is 10 s late, answering it 408', async () => {
    const stalled = await rawConnection(served.url);
    stalled.socket.write(head(16 * 1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The whole budget is the stalled caller's until its body is late; then this push goes in.
    expect(await answeredWithin(`${served.url}/`, pushOf('fine', 2_000), 15_000)).toBe(200);
    await waitFor(() => stalled.received().startsWith('HTTP/1.1 408'), { timeoutMs: 5_000, what: 'the 408' });
    stalled.socket.destroy();
  }, 30_000);
});
