/**
 * Base64 as proto3 JSON takes it (Pub/Sub's `data`, IoT Core's `binaryData`): the standard or
 * the URL-safe alphabet, padded or not. A length no bytes encode to (one character past a
 * multiple of four) and padding that does not end a whole quartet are refused: Node's decoder
 * drops such characters without a word, so `"A"` was taken as no bytes and `"AAAAA"` as three.
 */
import { z } from 'zod';

const SHAPE = /^[A-Za-z0-9+/_-]*(={0,2})$/;

export function isBase64(text: string): boolean {
  const shape = SHAPE.exec(text);
  if (!shape) return false;
  return (shape[1] as string).length > 0 ? text.length % 4 === 0 : text.length % 4 !== 1;
}

/** A base64 string, refused with `error` otherwise; the alphabet is the OpenAPI pattern. */
export const Base64Text = (error = 'must be base64') => z.string().refine(isBase64, { error }).meta({ pattern: SHAPE.source });
