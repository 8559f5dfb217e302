/**
 * The wrapped push fast path (shared/pubsub/wrapped-push.ts) against the zod schema it
 * shortcuts: on generated envelopes, near-misses and plain junk, whatever the fast path
 * accepts, zod accepts with the same result; and the common shape does take the fast path.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PushEnvelope } from '../../../schemas/pubsub.ts';
import { readWrappedPush } from '../../../shared/pubsub/wrapped-push.ts';
import { EDGE_STRINGS } from '../../support/bad-input.ts';

const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : process.env.CI === 'true' ? 20_261_127 : undefined;
const RUNS = Math.round(3_000 * Number(process.env.FUZZ_RUNS_FACTOR ?? 1));
const settings = { numRuns: RUNS, ...(FUZZ_SEED === undefined ? {} : { seed: FUZZ_SEED }) };

/** Anything JSON.parse could hand over, and some values it could not. */
const junk = fc.oneof(fc.constantFrom<unknown>(...EDGE_STRINGS, null, undefined, 0, -0, 1, 1.5, -1, 2 ** 53, NaN, true, [], {}), fc.jsonValue({ maxDepth: 3 }));
const base64 = fc.oneof(
  fc.base64String({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString('base64url')),
);
const time = fc.oneof(
  fc.date({ min: new Date('0001-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-11-27T18:00:00Z',
    '2026-11-27T18:00:00.123456789+05:30',
    '2026-02-29T00:00:00Z',
    '2024-02-29T00:00:00Z',
    '2026-11-27T18:00:00',
    '2026-11-27 18:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-11-27T24:00:00Z',
    '2026-11-27T18:00:60Z',
    '2026-11-27T18:00:00+24:00',
    '2026-11-27t18:00:00z',
    '+002026-11-27T18:00:00Z',
    '2026-11-27T18:00:00.Z',
    '2026-11-27T18:00Z',
    '2026-11-27T18:00:00Z\n',
  ),
  fc.string({ maxLength: 30 }),
);
const attributes = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('deviceId', '__proto__', 'constructor', 'toString')),
  fc.oneof(fc.string({ maxLength: 12 }), junk),
  { maxKeys: 5 },
);

/** Usually the right kind of value, now and then anything at all. */
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: junk });
const dataLike = fc.oneof(base64, fc.string({ maxLength: 12 }), fc.constantFrom('ab=c', '====', 'a b', 'YQ=', 'YQ==='));

/** A message where each field is usually right, sometimes missing, mistyped or snake_case. */
const message = fc
  .tuple(
    fc.record(
      {
        data: mostly(dataLike),
        attributes: mostly(attributes),
        messageId: mostly(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('m-1', 'a\u0000b', '\u0000'))),
        publishTime: mostly(time),
        orderingKey: mostly(fc.string({ maxLength: 5 })),
        extra: junk,
      },
      { requiredKeys: ['messageId'] },
    ),
    fc.option(
      fc.record(
        { message_id: mostly(fc.string({ maxLength: 5 })), publish_time: mostly(time), ordering_key: mostly(fc.string({ maxLength: 5 })) },
        { requiredKeys: [] },
      ),
      { freq: 4 },
    ),
  )
  .map(([camel, snake]) => ({ ...camel, ...snake }));
const envelope = fc.record(
  {
    message: mostly(message),
    subscription: mostly(fc.string({ maxLength: 20 })),
    deliveryAttempt: mostly(fc.oneof(fc.integer({ min: -2, max: 1000 }), fc.constantFrom(2 ** 53, 2 ** 53 - 1, 1.5, NaN, Infinity))),
    extra: junk,
  },
  { requiredKeys: ['message'] },
);
const common = fc.record({
  message: fc.record({
    data: base64,
    attributes: fc.dictionary(
      fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__'),
      fc.string({ maxLength: 12 }),
      { maxKeys: 5 },
    ),
    messageId: fc.string({ minLength: 1, maxLength: 20 }),
    publishTime: time,
  }),
  subscription: fc.string({ maxLength: 20 }),
});

/** The fields parseWrapped reads from zod's result. */
const asZodSees = (input: unknown) => {
  const parsed = PushEnvelope.safeParse(input);
  return parsed.success ? { message: parsed.data.message, subscription: parsed.data.subscription, deliveryAttempt: parsed.data.deliveryAttempt } : undefined;
};

describe('wrapped push fast path', () => {
  it('accepts nothing zod refuses, and returns what zod returns', () => {
    fc.assert(
      fc.property(fc.oneof(envelope, junk), (input) => {
        // Through JSON, as the body arrives, and as generated (undefined, NaN, __proto__ keys).
        for (const body of [input, JSON.parse(JSON.stringify(input ?? null)) as unknown]) {
          const fast = readWrappedPush(body);
          if (fast !== undefined) expect(fast).toStrictEqual(asZodSees(body));
        }
      }),
      settings,
    );
  });

  it('takes the common envelope without zod', () => {
    fc.assert(
      fc.property(common, (input) => {
        const body = JSON.parse(JSON.stringify(input)) as unknown;
        expect(readWrappedPush(body)).toStrictEqual(asZodSees(body));
      }),
      settings,
    );
  });

  it("takes Pub/Sub's own push body, each field in both spellings, and the snake_case alone", () => {
    // What Pub/Sub really sends: valid times, both spellings alike.
    const valid = fc.tuple(common, fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }));
    const pubsubShape = valid.map(([{ message, subscription }, at]) => ({
      message: { ...message, publishTime: at.toISOString(), message_id: message.messageId, publish_time: at.toISOString() },
      subscription,
    }));
    const snakeOnly = valid.map(
      ([
        {
          message: { messageId, publishTime: _, ...rest },
          subscription,
        },
        at,
      ]) => ({
        message: { ...rest, message_id: messageId, publish_time: at.toISOString() },
        subscription,
      }),
    );
    fc.assert(
      fc.property(fc.oneof(pubsubShape, snakeOnly), (input) => {
        const body = JSON.parse(JSON.stringify(input)) as unknown;
        const fast = readWrappedPush(body);
        expect(fast).toBeDefined();
        expect(fast).toStrictEqual(asZodSees(body));
      }),
      settings,
    );
  });

  it('leaves what it does not take to zod, which names the problem', () => {
    const body = { message: { data: 'not base64!', messageId: 'm-1' } };
    expect(readWrappedPush(body)).toBeUndefined();
    expect(PushEnvelope.safeParse(body).error?.issues[0]?.path).toEqual(['message', 'data']);
  });
});
