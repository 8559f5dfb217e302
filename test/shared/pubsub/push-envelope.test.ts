/**
 * One Pub/Sub message from each way it arrives over HTTP (shared/pubsub/push-envelope.ts),
 * built with the kit's fixtures. Ingest and deadletter answering them on the wire:
 * test/ingest-wire.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parsePushRequest } from '../../../shared/pubsub/push-envelope.ts';
import { HttpError } from '../../../shared/errors.ts';
import { makeBinaryCloudEvent, makePushBody, makeStructuredCloudEvent, makeUnwrappedPush, type HttpFixture, type MessageFixture } from '../../support/kit.ts';

const fixture: MessageFixture = {
  data: { metrics: { temp: 1 } },
  attributes: { deviceId: 'dev-1', schemaVersion: '1' },
  messageId: 'm-1',
  publishTime: '2026-04-02T10:00:00.000Z',
};
const parse = (request: HttpFixture) => parsePushRequest(request.headers, Buffer.from(request.body));
const refusal = (request: HttpFixture): HttpError => {
  try {
    parse(request);
  } catch (error) {
    if (error instanceof HttpError && error.status === 400) return error;
    throw error;
  }
  throw new Error('expected a 400');
};

describe('parsePushRequest reads the same message from every form', () => {
  it.each([
    ['push-wrapped', makePushBody(fixture)],
    ['push-wrapped', makePushBody(fixture, { snake: true })],
    ['push-unwrapped', makeUnwrappedPush(fixture)],
    ['cloudevent-binary', makeBinaryCloudEvent(fixture)],
    ['cloudevent-structured', makeStructuredCloudEvent(fixture)],
  ])('%s', (form, request) => {
    const message = parse(request);
    expect(message).toMatchObject({ form, messageId: 'm-1', publishTime: fixture.publishTime, attributes: fixture.attributes });
    expect(JSON.parse(message.data.toString('utf8'))).toEqual(fixture.data);
  });

  it('keeps the subscription and delivery attempt of a wrapped push', () => {
    expect(parse(makePushBody(fixture, { deliveryAttempt: 3 }))).toMatchObject({
      subscription: 'projects/local-project/subscriptions/telemetry-ingest',
      deliveryAttempt: 3,
    });
  });

  // Media types and their parameters are case-insensitive, and the JSON event format allows a
  // charset parameter in any spelling (Google's own Pub/Sub binding writes `charset=UTF-8`).
  it.each(['application/cloudevents+json; charset=UTF-8', 'application/cloudevents+json;charset=utf-8', 'Application/CloudEvents+JSON'])(
    'reads a structured CloudEvent sent as %s',
    (contentType) => {
      const request = makeStructuredCloudEvent(fixture);
      request.headers['content-type'] = contentType;
      expect(parse(request)).toMatchObject({ form: 'cloudevent-structured', messageId: 'm-1', attributes: fixture.attributes });
    },
  );

  it('reads a structured CloudEvent whose data is data_base64', () => {
    const request = makeStructuredCloudEvent(fixture);
    const { data, ...event } = JSON.parse(request.body) as Record<string, unknown>;
    request.body = JSON.stringify({ ...event, data_base64: Buffer.from(JSON.stringify(data)).toString('base64') });
    const message = parse(request);
    expect(message).toMatchObject({ form: 'cloudevent-structured', messageId: 'm-1', attributes: fixture.attributes });
    expect(JSON.parse(message.data.toString('utf8'))).toEqual(fixture.data);
  });

  it("keeps the delivery attempt of a CloudEvent's messagePublished data", () => {
    const request = makeStructuredCloudEvent(fixture);
    const event = JSON.parse(request.body) as { data: Record<string, unknown> };
    request.body = JSON.stringify({ ...event, data: { ...event.data, deliveryAttempt: 4 } });
    expect(parse(request)).toMatchObject({ form: 'cloudevent-structured', deliveryAttempt: 4 });
  });

  // MessagePublishedData's delivery_attempt is 0 when the subscription has no dead-letter policy.
  const withAttemptZero = (request: HttpFixture): HttpFixture => ({
    ...request,
    body: JSON.stringify({ ...(JSON.parse(request.body) as object), deliveryAttempt: 0 }),
  });
  it.each([
    ['a wrapped push', withAttemptZero(makePushBody(fixture))],
    ['a CloudEvent', withAttemptZero(makeBinaryCloudEvent(fixture))],
  ])('reads a delivery attempt of 0 in %s as no count', (_, request) => {
    const message = parse(request);
    expect(message.messageId).toBe('m-1');
    expect(message.deliveryAttempt).toBeUndefined();
  });

  it('restores the published spelling of attributes an unwrapped push lower-cased, and leaves transport headers out', () => {
    const request = makeUnwrappedPush(fixture);
    request.headers = { ...request.headers, 'x-goog-pubsub-delivery-attempt': '2', 'user-agent': 'APIs-Google', 'x-forwarded-for': '10.0.0.1', custom: 'kept' };
    const message = parse(request);
    expect(message.attributes).toEqual({ deviceId: 'dev-1', schemaVersion: '1', custom: 'kept' });
    expect(message.deliveryAttempt).toBe(2);
  });
});

// Payload unwrapping without write metadata sends the data alone, whatever its bytes: a body
// without Pub/Sub's marks is such a push, never refused (Pub/Sub would retry a 400 forever).
describe('parsePushRequest reads a body without Pub/Sub marks as an unwrapped push without metadata', () => {
  it.each([
    ['telemetry JSON', '{"deviceId":"dev-1","readings":[{"metrics":{"temp":1}}]}'],
    ['JSON without a message', '{"data":"x"}'],
    ['a body that is not JSON', '{'],
    ['an empty body (a message of attributes only)', ''],
  ])('%s', (_, body) => {
    const message = parse({ headers: { 'content-type': 'application/json' }, body });
    expect(message).toEqual({ form: 'push-unwrapped', attributes: {}, data: Buffer.from(body) });
  });
});

describe('parsePushRequest refuses, naming every problem', () => {
  it('a wrapped push whose message is not one', () => {
    expect(refusal({ headers: {}, body: '{"message":{"data":"x"}}' }).issues?.map((i) => i.path)).toEqual(['message.data', 'message.messageId']);
  });

  it('a binary CloudEvent missing its required attributes, each by name', () => {
    const request = makeBinaryCloudEvent(fixture);
    delete request.headers['ce-id'];
    delete request.headers['ce-source'];
    expect(refusal(request).issues?.map((i) => i.path)).toEqual(['ce-id', 'ce-source']);
  });

  it('a CloudEvent of another type', () => {
    const request = makeBinaryCloudEvent(fixture);
    request.headers['ce-type'] = 'google.cloud.storage.object.v1.finalized';
    expect(refusal(request).issues).toEqual([{ path: 'type', message: expect.stringContaining('google.cloud.pubsub.topic.v1.messagePublished') as unknown }]);
  });

  it('a batch of CloudEvents with 415, saying batches are not taken', () => {
    const event = JSON.parse(makeStructuredCloudEvent(fixture).body) as unknown;
    const request = { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify([event]) };
    let refused: unknown;
    try {
      parse(request);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(HttpError);
    expect(refused).toMatchObject({ status: 415, code: 'unsupported_media_type', issues: [{ path: 'content-type' }] });
    expect((refused as HttpError).message).toMatch(/batch/);
  });

  it('a CloudEvent whose data is not a messagePublished body, under the path data', () => {
    const request = makeStructuredCloudEvent(fixture);
    const event = JSON.parse(request.body) as Record<string, unknown>;
    request.body = JSON.stringify({ ...event, data: { subscription: 's' } });
    expect(refusal(request).issues?.every((i) => i.path.startsWith('data'))).toBe(true);
  });
});
