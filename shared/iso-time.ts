/**
 * Epoch milliseconds as RFC 3339 UTC text, exactly as `Date.prototype.toISOString` writes them,
 * at a tenth of its cost: the bridge writes two on every request (the receive time and the
 * reading's time), and `toISOString` was a twentieth of its CPU. The date part is kept for the
 * last day seen; the time of day is written from tables. Any other input (another day, a
 * fraction, a time `Date` cannot hold) goes to `toISOString` itself, errors included.
 * @see https://tc39.es/ecma262/#sec-date.prototype.toisostring
 */

const DAY_MS = 86_400_000;
/** The latest (and, negated, the earliest) time `Date` holds (ECMA-262 TimeClip). */
const MAX_TIME_MS = 8.64e15;
/** `HH:MM:SS.mmmZ`, the part after the date and `T`. */
const TIME_OF_DAY_LENGTH = 13;
const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

let cachedDay = Number.NaN;
/** `YYYY-MM-DDT` (or `±YYYYYY-MM-DDT`) of `cachedDay`. */
let cachedDate = '';

/** `new Date(ms).toISOString()`, faster. */
export function isoTime(ms: number): string {
  // Beyond MAX_TIME_MS the cached day (that of MAX_TIME_MS itself, which starts a day) would still match.
  if (!Number.isSafeInteger(ms) || ms > MAX_TIME_MS || ms < -MAX_TIME_MS) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    const text = new Date(ms).toISOString();
    cachedDay = day;
    cachedDate = text.slice(0, text.length - TIME_OF_DAY_LENGTH);
    return text;
  }
  let rest = ms - day * DAY_MS;
  const millis = rest % 1000;
  rest = (rest - millis) / 1000;
  const seconds = rest % 60;
  rest = (rest - seconds) / 60;
  const minutes = rest % 60;
  const hours = (rest - minutes) / 60;
  return `${cachedDate}${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[seconds]}.${THREE_DIGITS[millis]}Z`;
}
