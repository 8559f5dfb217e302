/**
 * Opaque, tamper-evident page tokens: `base64url(JSON).base64url(HMAC-SHA256)`. The payload
 * carries the keyset cursor and the query it belongs to; a token that was altered, forged, or
 * presented with another query (another device, window, order or filter) is refused with 400
 * before any SQL runs. The key is derived from the configured bearer secrets, so every
 * instance of the function accepts the tokens of every other; rotating a secret ends the
 * tokens issued under it (a client starts over from the first page).
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { constantTimeEqual } from '../../shared/auth/bearer.ts';
import { ValidationError } from '../../shared/errors.ts';

export interface PageTokenCodec {
  /** A token for `cursor` on the query `scope`. */
  encode<C>(scope: string, cursor: C): string;
  /** The cursor, validated by `schema`, or a 400 naming `pageToken`. */
  decode<S extends z.ZodType>(token: string, scope: string, schema: S): z.infer<S>;
}

const Envelope = z.strictObject({ v: z.literal(1), s: z.string(), c: z.unknown() });

const invalid = (message: string) => new ValidationError('invalid page token', [{ path: 'pageToken', message }]);

export function createPageTokenCodec(secrets: readonly string[]): PageTokenCodec {
  const key = createHmac('sha256', 'readings page token v1').update(secrets.join('\u0000')).digest();
  const sign = (payload: string) => createHmac('sha256', key).update(payload).digest();
  return {
    encode(scope, cursor) {
      const payload = Buffer.from(JSON.stringify({ v: 1, s: scope, c: cursor }), 'utf8').toString('base64url');
      return `${payload}.${sign(payload).toString('base64url')}`;
    },
    decode(token, scope, schema) {
      const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token);
      if (!match) throw invalid('is not a page token this API issued');
      const [, payload, signature] = match as unknown as [string, string, string];
      if (!constantTimeEqual(Buffer.from(signature, 'base64url'), sign(payload))) throw invalid('is not a page token this API issued');
      let envelope: z.infer<typeof Envelope>;
      try {
        envelope = Envelope.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
      } catch {
        throw invalid('is not a page token this API issued');
      }
      if (envelope.s !== scope) throw invalid('belongs to another query: keep every parameter but pageToken as it was');
      const cursor = schema.safeParse(envelope.c);
      if (!cursor.success) throw invalid('is not a page token this API issued');
      return cursor.data;
    },
  };
}
