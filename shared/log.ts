/**
 * Structured logs in Cloud Logging's JSON format, one object per line on stdout.
 * @see https://cloud.google.com/logging/docs/structured-logging#special-payload-fields
 */
import type { IncomingHttpHeaders } from 'node:http';

export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };
const LEVELS: Record<string, Severity> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', warning: 'WARNING', error: 'ERROR' };

export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines all carry these fields (e.g. the request's trace). */
  child(fields: LogFields): Logger;
  /** Whether lines of this severity are written (skip building fields when not). */
  enabled(severity: Severity): boolean;
}

export interface LoggerOptions {
  level?: string;
  sink?: LogSink;
  /** Human-readable lines instead of JSON (a terminal). */
  pretty?: boolean;
  fields?: LogFields;
}

const defaultSink: LogSink = (line) => process.stdout.write(line + '\n');

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[LEVELS[(options.level ?? 'info').toLowerCase()] ?? 'INFO'];
  const sink = options.sink ?? defaultSink;
  const format = options.pretty ? formatPretty : formatJson;
  const make = (base: LogFields): Logger => {
    const emit = (severity: Severity, message: string, fields?: LogFields) => {
      if (RANK[severity] < min) return;
      sink(format(severity, message, { ...base, ...fields }));
    };
    return {
      debug: (m, f) => emit('DEBUG', m, f),
      info: (m, f) => emit('INFO', m, f),
      warn: (m, f) => emit('WARNING', m, f),
      error: (m, f) => emit('ERROR', m, f),
      child: (fields) => make({ ...base, ...fields }),
      enabled: (severity) => RANK[severity] >= min,
    };
  };
  return make(options.fields ?? {});
}

function formatJson(severity: Severity, message: string, fields: LogFields): string {
  return JSON.stringify({ severity, message, time: new Date().toISOString(), ...fields }, errorReplacer);
}

function formatPretty(severity: Severity, message: string, fields: LogFields): string {
  const { ['logging.googleapis.com/trace']: _trace, ['logging.googleapis.com/spanId']: _span, ...rest } = fields;
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (errorReplacer(k, v) as string) : JSON.stringify(v, errorReplacer)}`)
    .join(' ');
  const time = new Date().toISOString().slice(11, 23);
  return `${time} ${severity.padEnd(7)} ${message}${extra ? '  ' + extra : ''}`;
}

/** Ids and paths come from callers: a log line holds their first characters only. */
const MAX_LOGGED_ID = 256;
const TRUNCATED_KEYS = new Set(['deviceId', 'path', 'url', 'messageId', 'subscription']);
/** Any other string (an error message quoting its input) is bounded too. */
const MAX_LOGGED_TEXT = 2_048;

function truncateForLog(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length - max} more characters)`;
}

function errorReplacer(key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return {
      name: value.name,
      message: truncateForLog(value.message, MAX_LOGGED_TEXT),
      ...(value.cause ? { cause: truncateForLog(String(value.cause), MAX_LOGGED_TEXT) } : {}),
    };
  }
  if (typeof value === 'string') return truncateForLog(value, TRUNCATED_KEYS.has(key) ? MAX_LOGGED_ID : MAX_LOGGED_TEXT);
  return value;
}

/**
 * The trace fields Cloud Logging correlates on, from W3C `traceparent` or the older
 * `X-Cloud-Trace-Context` header.
 * @see https://www.w3.org/TR/trace-context/#traceparent-header
 */
export function traceFields(headers: IncomingHttpHeaders, projectId: string): LogFields {
  const traceparent = headers.traceparent;
  if (typeof traceparent === 'string') {
    const match = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(traceparent);
    if (match) return traceOf(projectId, match[1] as string, match[2] as string);
  }
  const cloud = headers['x-cloud-trace-context'];
  if (typeof cloud === 'string') {
    const match = /^([0-9a-fA-F]{32})(?:\/(\d+))?/.exec(cloud);
    if (match) return traceOf(projectId, match[1] as string, match[2]);
  }
  return {};
}

function traceOf(projectId: string, traceId: string, spanId: string | undefined): LogFields {
  return {
    'logging.googleapis.com/trace': `projects/${projectId}/traces/${traceId}`,
    ...(spanId ? { 'logging.googleapis.com/spanId': spanId } : {}),
  };
}
