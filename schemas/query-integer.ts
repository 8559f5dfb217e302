/**
 * An integer in a query string: plain decimal digits and nothing else. `z.coerce.number()`
 * took whatever `Number()` takes, so `pageSize=1e2` was 100, `0x2` was 2, and ` 5`, `5.0`,
 * `+5` and an empty value (0) passed as well. Leading zeros are taken (`05` is 5): they are
 * still decimal digits and read the same by every client, as epoch milliseconds in a readings
 * query and the bridge's `local_version` already are.
 */
import { z } from 'zod';

const DECIMAL_DIGITS = /^\d+$/;
export const NOT_DECIMAL_DIGITS = 'must be an integer in plain decimal digits (no sign, space, point, exponent or 0x)';

/**
 * Digits checked first, then the number by `bounds`, whose messages answer a value out of
 * range. Digits past the safe integers are read as the largest safe one, so that such a value
 * is refused by the maximum of `bounds` alone, not as "Infinity" or for not being a safe integer.
 */
export const queryInteger = (bounds: z.ZodNumber) =>
  z
    .string()
    .regex(DECIMAL_DIGITS, { error: NOT_DECIMAL_DIGITS })
    .transform((digits) => Math.min(Number(digits), Number.MAX_SAFE_INTEGER))
    .pipe(bounds);
