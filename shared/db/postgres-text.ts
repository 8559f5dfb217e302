/**
 * Text and JSON that PostgreSQL accepts from values that did not pass through a schema
 * refusing what it cannot store (message ids, subscriptions, payloads of poison messages).
 */
/**
 * Text that a PostgreSQL text column accepts: it refuses the NUL character, which is kept
 * visible as U+FFFD. (Lone surrogates need nothing here: the driver's UTF-8 encoding already
 * turns them into U+FFFD.) For strings that come from Pub/Sub rather than through a schema
 * that refuses them, such as message ids, subscriptions and payloads of poison messages.
 */
export function textForPostgres(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/**
 * JSON text that jsonb accepts: PostgreSQL refuses the NUL character and lone UTF-16
 * surrogates (which JSON.stringify writes as `\udXXX` escapes), in values and in keys.
 */
export function jsonForPostgres(value: unknown): string {
  let text = JSON.stringify(value) ?? 'null';
  // JSON.stringify escapes lone surrogates (and only those) as \udXXX: without that sequence
  // the text needs no repair, and the per-value walk is skipped (the hot path of ingest).
  if (text.includes('\\ud')) text = JSON.stringify(wellFormed(value));
  return text.includes('\\u0000') ? text.replace(ESCAPED_NUL, '$1\\ufffd') : text;
}

/** The escape `\u0000` itself, not the text `\\u0000` (an escaped backslash, then `u0000`). */
const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/** A lone surrogate: a high one not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormedText = (text: string) => text.replace(LONE_SURROGATE, '\uFFFD');

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return wellFormedText(value);
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormedText(k), wellFormed(v)]));
}
