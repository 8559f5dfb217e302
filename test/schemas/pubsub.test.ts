/** A Pub/Sub message in either field naming (schemas/pubsub.ts); every delivery form is test/shared/pubsub/push-envelope.test.ts. */
import { describe, expect, it } from 'vitest';
import { PubsubMessage, PushEnvelope } from '../../schemas/pubsub.ts';

describe('PubsubMessage', () => {
  it('normalises the protobuf spelling to camelCase, with empty data and attributes when absent', () => {
    expect(PubsubMessage.parse({ message_id: '1', publish_time: '2026-04-02T10:00:00Z', ordering_key: 'k' })).toEqual({
      data: '',
      attributes: {},
      messageId: '1',
      publishTime: '2026-04-02T10:00:00Z',
      orderingKey: 'k',
    });
    expect(PubsubMessage.parse({ messageId: '2', data: 'eA==', attributes: null })).toMatchObject({ data: 'eA==', attributes: {} });
  });

  it('needs a message id, base64 data and a real publish time', () => {
    const paths = (value: unknown) => {
      const parsed = PubsubMessage.safeParse(value);
      return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'));
    };
    expect(paths({ data: 'eA==' })).toEqual(['messageId']);
    expect(paths({ messageId: '1', data: 'not base64!' })).toEqual(['data']);
    expect(paths({ messageId: '1', publishTime: 'yesterday' })).toEqual(['publishTime']);
  });

  it('keeps a message id as given except for NUL, which no text column holds', () => {
    expect(PubsubMessage.parse({ messageId: 'a\u0000b' }).messageId).toBe('a\uFFFDb');
  });
});

describe('PushEnvelope', () => {
  it('takes the subscription and a delivery attempt from 0 (0: no dead-letter policy counts them)', () => {
    expect(PushEnvelope.parse({ message: { messageId: '1' }, subscription: 's', deliveryAttempt: 2 })).toMatchObject({ subscription: 's', deliveryAttempt: 2 });
    expect(PushEnvelope.safeParse({ message: { messageId: '1' }, deliveryAttempt: 0 }).success).toBe(true);
    for (const attempt of [-1, 1.5, '2']) expect(PushEnvelope.safeParse({ message: { messageId: '1' }, deliveryAttempt: attempt }).success).toBe(false);
  });
});
