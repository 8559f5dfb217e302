/**
 * Pub/Sub's `Publish` call on the wire: the PublishRequest written as protobuf in one gRPC
 * frame, and the message ids read back from the PublishResponse frame. Only the fields a
 * publisher sends are written (`topic`; per message `data` and `attributes`); the rest of the
 * response is skipped by wire type, as protobuf readers do.
 * @see https://github.com/googleapis/googleapis/blob/master/google/pubsub/v1/pubsub.proto (PublishRequest, PubsubMessage, PublishResponse)
 * @see https://protobuf.dev/programming-guides/encoding/
 * @see https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md (Length-Prefixed-Message)
 */

export interface OutgoingMessage {
  data: Buffer;
  attributes: Record<string, string>;
}

/** Tag bytes: (field number << 3) | wire type 2 (length-delimited). */
const FIELD_1 = 0x0a;
const FIELD_2 = 0x12;
/** The gRPC frame's prefix: one byte "compressed" flag, four bytes of big-endian length. */
const FRAME_PREFIX = 5;

/** A PublishRequest in one uncompressed gRPC frame. */
export function encodePublishRequest(topic: string, messages: readonly OutgoingMessage[]): Buffer {
  // Two passes: sizes first (every length prefix is a varint of the size that follows), then bytes.
  const topicBytes = Buffer.byteLength(topic);
  const messageSizes = new Array<number>(messages.length);
  let size = fieldSize(topicBytes);
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as OutgoingMessage;
    // proto3 leaves an empty `data` out; Pub/Sub then requires an attribute, and says so.
    let messageSize = message.data.length > 0 ? fieldSize(message.data.length) : 0;
    for (const key in message.attributes) messageSize += fieldSize(entrySize(key, message.attributes[key] as string));
    messageSizes[i] = messageSize;
    size += fieldSize(messageSize);
  }
  const frame = Buffer.allocUnsafe(FRAME_PREFIX + size);
  frame[0] = 0;
  frame.writeUInt32BE(size, 1);
  let at = writeString(frame, FRAME_PREFIX, FIELD_1, topic, topicBytes);
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as OutgoingMessage;
    frame[at++] = FIELD_2;
    at = writeVarint(frame, at, messageSizes[i] as number);
    if (message.data.length > 0) {
      frame[at++] = FIELD_1;
      at = writeVarint(frame, at, message.data.length);
      at += message.data.copy(frame, at);
    }
    for (const key in message.attributes) {
      const value = message.attributes[key] as string;
      frame[at++] = FIELD_2;
      at = writeVarint(frame, at, entrySize(key, value));
      at = writeString(frame, at, FIELD_1, key, Buffer.byteLength(key));
      at = writeString(frame, at, FIELD_2, value, Buffer.byteLength(value));
    }
  }
  if (at !== frame.length) throw new Error(`PublishRequest encoding wrote ${at} of ${frame.length} bytes`);
  return frame;
}

/** The message ids of a PublishResponse in one gRPC frame, in the order of the request's messages. */
export function decodePublishResponse(frame: Buffer): string[] {
  if (frame.length < FRAME_PREFIX) throw new Error(`a gRPC frame of ${frame.length} bytes has no length prefix`);
  if (frame[0] !== 0) throw new Error('the PublishResponse came compressed, which was not asked for');
  const end = FRAME_PREFIX + frame.readUInt32BE(1);
  if (end !== frame.length) throw new Error(`the PublishResponse frame says ${end - FRAME_PREFIX} bytes and carries ${frame.length - FRAME_PREFIX}`);
  const ids: string[] = [];
  const reader = { buffer: frame, at: FRAME_PREFIX };
  while (reader.at < end) {
    const tag = readVarint(reader, end);
    const wireType = tag & 7;
    if (wireType === 2) {
      const length = readVarint(reader, end);
      if (reader.at + length > end) throw new Error('a PublishResponse field runs past its frame');
      if (tag === FIELD_1) ids.push(frame.toString('utf8', reader.at, reader.at + length));
      reader.at += length;
    } else if (wireType === 0) readVarint(reader, end);
    else if (wireType === 1) reader.at += 8;
    else if (wireType === 5) reader.at += 4;
    else throw new Error(`a PublishResponse field has wire type ${wireType}`);
  }
  if (reader.at !== end) throw new Error('a PublishResponse field runs past its frame');
  return ids;
}

/** A map entry's size: key (field 1) and value (field 2). */
function entrySize(key: string, value: string): number {
  return fieldSize(Buffer.byteLength(key)) + fieldSize(Buffer.byteLength(value));
}

/** A length-delimited field's size: tag, length prefix, bytes. */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[at++] = value;
  return at;
}

function writeString(buffer: Buffer, at: number, tag: number, text: string, bytes: number): number {
  buffer[at++] = tag;
  at = writeVarint(buffer, at, bytes);
  return at + buffer.write(text, at, 'utf8');
}

function readVarint(reader: { buffer: Buffer; at: number }, end: number): number {
  let value = 0;
  for (let shift = 0; shift < 64; shift += 7) {
    if (reader.at >= end) throw new Error('a PublishResponse varint runs past its frame');
    const byte = reader.buffer[reader.at++] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value;
  }
  throw new Error('a PublishResponse varint is longer than ten bytes');
}
