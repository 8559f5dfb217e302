/**
 * shared/pubsub/publish-wire.ts against the protobuf code Google generates for Pub/Sub (the one
 * @google-cloud/pubsub ships): what we write, it reads as the same request; what it writes as a
 * response, we read as the same ids.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePublishResponse, encodePublishRequest, type OutgoingMessage } from '../../../shared/pubsub/publish-wire.ts';

interface GeneratedType {
  encode(value: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(value: object, options: object): Record<string, unknown>;
}
const require = createRequire(import.meta.url);
const { google } = require('@google-cloud/pubsub/build/protos/protos.js') as { google: { pubsub: { v1: Record<string, GeneratedType> } } };
const { PublishRequest, PublishResponse } = google.pubsub.v1 as { PublishRequest: GeneratedType; PublishResponse: GeneratedType };

/** A gRPC frame's payload, after checking its prefix. */
function unframe(frame: Buffer): Buffer {
  expect(frame[0]).toBe(0);
  expect(frame.readUInt32BE(1)).toBe(frame.length - 5);
  return frame.subarray(5);
}

function frame(payload: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** The request as the generated code reads it, with bytes as Buffers and absent maps empty. */
function readRequest(frameBytes: Buffer): { topic: string; messages: OutgoingMessage[] } {
  const decoded = PublishRequest.toObject(PublishRequest.decode(unframe(frameBytes)), { defaults: true, arrays: true, objects: true });
  const messages = decoded.messages as { data: Uint8Array; attributes: Record<string, string> }[];
  return { topic: decoded.topic as string, messages: messages.map((m) => ({ data: Buffer.from(m.data), attributes: { ...m.attributes } })) };
}

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const outgoing = fc.record({
  data: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  attributes: fc.dictionary(text, text, { maxKeys: 6 }),
});

describe('encodePublishRequest', () => {
  it('writes what the generated PublishRequest reads back field for field', () => {
    fc.assert(
      fc.property(text, fc.array(outgoing, { maxLength: 30 }), (topic, messages) => {
        expect(readRequest(encodePublishRequest(topic, messages))).toEqual({ topic, messages });
      }),
      { numRuns: 300 },
    );
  });

  it('writes the same bytes as the generated encoder for a telemetry batch', () => {
    const messages = Array.from({ length: 25 }, (_, i) => ({
      data: Buffer.from(JSON.stringify({ deviceId: `dev-${i}`, readings: [{ ts: '2026-11-28T15:00:00Z', metrics: { temperature: 21.5 + i } }] })),
      attributes: { deviceId: `dev-${i}`, registry: 'default', note: 'température ✓' },
    }));
    const topic = 'projects/p/topics/telemetry';

    expect(unframe(encodePublishRequest(topic, messages)).equals(Buffer.from(PublishRequest.encode({ topic, messages }).finish()))).toBe(true);
  });

  it('writes lengths that need several varint bytes: a 1 MiB message, a 20,000-character attribute', () => {
    const messages = [{ data: Buffer.alloc(1024 * 1024, 7), attributes: { long: 'é'.repeat(20_000) } }];

    const read = readRequest(encodePublishRequest('projects/p/topics/large', messages));

    expect(read.messages[0]?.data.equals(messages[0]?.data as Buffer)).toBe(true);
    expect(read.messages[0]?.attributes).toEqual(messages[0]?.attributes);
  });
});

describe('decodePublishResponse', () => {
  it('reads the ids the generated PublishResponse writes, in order', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }), { maxLength: 600 }), (messageIds) => {
        expect(decodePublishResponse(frame(PublishResponse.encode({ messageIds }).finish()))).toEqual(messageIds);
      }),
    );
  });

  it('skips fields it does not know, of every wire type', () => {
    // Field 1 "a", then field 2 varint 150, field 3 fixed64, field 4 length-delimited, field 5 fixed32, then field 1 "b".
    const payload = Buffer.from([0x0a, 1, 0x61, 0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 2, 0x0a, 0x0b, 0x2d, 1, 2, 3, 4, 0x0a, 1, 0x62]);

    expect(decodePublishResponse(frame(payload))).toEqual(['a', 'b']);
  });

  it.each([
    { name: 'no prefix', bytes: Buffer.from([0, 0, 0]), error: /no length prefix/ },
    { name: 'a compressed frame', bytes: Buffer.from([1, 0, 0, 0, 0]), error: /compressed/ },
    { name: 'a frame shorter than it says', bytes: Buffer.from([0, 0, 0, 0, 5, 0x0a, 1]), error: /says 5 bytes and carries 2/ },
    { name: 'a field past the frame', bytes: frame(Buffer.from([0x0a, 5, 0x61])), error: /runs past its frame/ },
    { name: 'a varint past the frame', bytes: frame(Buffer.from([0x0a, 0x80])), error: /varint runs past/ },
    { name: 'wire type 3 (groups)', bytes: frame(Buffer.from([0x0b])), error: /wire type 3/ },
  ])('refuses $name', ({ bytes, error }) => {
    expect(() => decodePublishResponse(bytes)).toThrow(error);
  });
});
