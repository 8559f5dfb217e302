/**
 * How one environment variable becomes one setting: unset (or blank) gives the default, a
 * value of the right shape gives that value, anything else stops start-up with an error that
 * names the variable and what it takes. Read only by shared/config.ts.
 */
import { isIP } from 'node:net';

export type Env = Record<string, string | undefined>;

/** The value of `name`, or undefined when it is unset or blank (a blank value means "default"). */
export const optional = (env: Env, name: string): string | undefined => {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
};

const invalid = (name: string, value: string, takes: string) => new Error(`${name}=${value} is not valid: ${takes}`);

/** An integer within bounds. */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = optional(env, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name}=${text} must be an integer from ${min} to ${max}`);
  return n;
}

/** The longest delay a timer takes: past it node fires at once (a deadline of "forever" would be none). */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration in ms, a whole number from 1 to about 24.8 days (what a timer can wait). */
export function durationMs(env: Env, name: string, fallback: number, max = MAX_TIMER_MS): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n <= 0 || n > max)
    throw new Error(`${name}=${raw} is not a whole number of milliseconds from 1 to ${max}`);
  return n;
}

/** A whole number of days (at least 1). */
export function days(env: Env, name: string, fallback: number): number;
export function days(env: Env, name: string, fallback?: number): number | undefined;
export function days(env: Env, name: string, fallback?: number): number | undefined {
  const value = optional(env, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new Error(`${name}=${value} is not a whole number of days (1 or more)`);
  return n;
}

/** A port number; 0 lets the system pick a free one. */
export const port = (env: Env, name: string, fallback: number): number => {
  const text = optional(env, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || n > 65535) throw new Error(`${name}=${text} is not a port number (0 to 65535)`);
  return n;
};

/** One of a few words, compared without case; the word as listed. */
export function oneOf<const T extends string>(env: Env, name: string, words: readonly T[], fallback: T): T {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const word = words.find((w) => w.toLowerCase() === raw.trim().toLowerCase());
  if (word === undefined) throw invalid(name, raw, `use ${words.join(', ')}`);
  return word;
}

/** `true` or `false`. */
export const flag = (env: Env, name: string, fallback: boolean): boolean => oneOf(env, name, ['true', 'false'], fallback ? 'true' : 'false') === 'true';

/** Free text checked against a pattern; `takes` says what the pattern allows. */
export function matching(env: Env, name: string, pattern: RegExp, takes: string): string | undefined {
  const raw = optional(env, name);
  if (raw !== undefined && !pattern.test(raw)) throw invalid(name, raw, takes);
  return raw;
}

/** A secret is never echoed: the error names the variable and the rule only. */
export function secret(env: Env, name: string, pattern: RegExp, takes: string): string | undefined {
  const raw = optional(env, name);
  if (raw !== undefined && !pattern.test(raw)) throw new Error(`${name} is not valid: ${takes}`);
  return raw;
}

/** An http(s) URL. */
export function httpUrl(env: Env, name: string): string | undefined {
  const raw = optional(env, name)?.trim();
  if (raw === undefined) return undefined;
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) throw invalid(name, raw, 'an http:// or https:// URL');
  return raw;
}

/** A PostgreSQL URL; its password stays out of the message. */
export function postgresUrl(env: Env, name: string): string | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  if (!URL.canParse(raw) || !/^postgres(ql)?:$/.test(new URL(raw).protocol)) throw new Error(`${name} is not a postgres:// or postgresql:// URL`);
  return raw;
}

/** A comma list of email addresses (service accounts). */
export function emails(env: Env, name: string): string[] {
  const list = (env[name] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const bad = list.find((e) => !/^[^@\s]+@[^@\s]+$/.test(e));
  if (bad !== undefined) throw invalid(name, env[name] as string, `${bad} is not an email address (a comma list of service accounts)`);
  return list;
}

/** A comma list of words without spaces. */
export const list = (env: Env, name: string): string[] =>
  (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** An IP address or a host name. */
export function host(env: Env, name: string): string | undefined {
  const raw = optional(env, name);
  const value = raw?.trim();
  if (value === undefined) return undefined;
  if (isIP(value) || HOST_NAME.test(value)) return value;
  throw new Error(`${name}=${raw} is not an IP address or host name (use 127.0.0.1 for this machine only, 0.0.0.0 for every interface)`);
}

/** `host:port`, as PUBSUB_EMULATOR_HOST is written (`[::1]:8085` for IPv6). */
export function hostAndPort(env: Env, name: string): string | undefined {
  const raw = optional(env, name);
  const value = raw?.trim();
  if (value === undefined) return undefined;
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535 || !(isIP((match[1] as string).replace(/^\[|\]$/g, '')) || HOST_NAME.test(match[1] as string))) {
    throw invalid(name, raw as string, 'host:port, e.g. 127.0.0.1:8085');
  }
  return value;
}

/** A per-device rate (`DEVICE_RATE_LIMIT`): `count` requests per `periodMs`. */
export interface RateLimit {
  count: number;
  periodMs: number;
  /** As configured, for messages: `20/s`. */
  text: string;
}

const PERIODS: Record<string, number> = { s: 1_000, sec: 1_000, second: 1_000, m: 60_000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000 };

/** Parses `N/s`, `N/min` or `N/h`; throws naming the variable when the value is malformed. */
export function parseRateLimit(text: string): RateLimit {
  const match = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/i.exec(text);
  const periodMs = match ? PERIODS[(match[2] as string).toLowerCase()] : undefined;
  const count = match ? Number(match[1]) : 0;
  if (!match || periodMs === undefined || count < 1) {
    throw new Error(`DEVICE_RATE_LIMIT must look like "20/s", "600/min" or "1000/h", got "${text}"`);
  }
  return { count, periodMs, text: text.trim() };
}
