/**
 * The test kit: a fresh PostgreSQL database per test file, fixture builders for every way a
 * Pub/Sub message reaches a function, and a helper that serves a function on a free port.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../shared/config.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import type { FunctionModule } from '../../shared/runtime/function.ts';
import { createPlatform, type Platform, type Providers } from '../../shared/runtime/platform.ts';
import { serveFunction, type RunningFunction } from '../../shared/runtime/serve.ts';
import { createFreshDatabase, type FreshDatabase } from './database.ts';

export type TestDatabase = FreshDatabase;

/** Creates `t_<random>` on the machine's PostgreSQL and applies the migrations. */
export function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  return createFreshDatabase({ adminUrl: inject('pgAdminUrl'), prefix: 't', migrate: options.migrate, env: { DATA_DIR: testDataDir(), LOG_LEVEL: 'error' } });
}

/** The DATA_DIR of testConfig: one per test process, under the run's root that the global setup removes. */
export function testDataDir(): string {
  return join(inject('testDataRoot'), String(process.pid));
}

/** A fresh scratch directory under the run's root, which the global setup removes with everything in it. */
export function makeScratchDir(prefix: string): string {
  return mkdtempSync(join(inject('testDataRoot'), prefix));
}

/** Configuration as a deployed function would read it, from these variables only. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({ DATA_DIR: testDataDir(), LOG_LEVEL: 'error', ...env });
}

/** Captures log lines so that tests can read what a function logged. */
export function captureLogs(level = 'debug'): { logger: Logger; lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  return {
    logger: createLogger({ level, sink: (l) => lines.push(l) }),
    lines,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface ServedFunction extends RunningFunction {
  platform: Platform;
  close(): Promise<void>;
}

export async function startFunction(
  module: FunctionModule,
  options: { env?: Record<string, string | undefined>; providers?: Partial<Providers>; logger?: Logger } = {},
): Promise<ServedFunction> {
  const config = testConfig(options.env);
  const platform = createPlatform({ config, providers: options.providers, logger: options.logger ?? createLogger({ level: 'error' }) });
  const running = await serveFunction(module, platform, { port: 0, host: '127.0.0.1' });
  return {
    ...running,
    platform,
    async close() {
      await running.stop();
      await platform.close();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Fixture builders: one Pub/Sub message in each of the forms docs/architecture.md lists.

export interface MessageFixture {
  data: unknown;
  attributes?: Record<string, string>;
  messageId?: string;
  publishTime?: string;
}

export interface HttpFixture {
  headers: Record<string, string>;
  body: string;
}

function encodeData(data: unknown): string {
  const raw = Buffer.isBuffer(data) ? data : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data));
  return raw.toString('base64');
}

export function makeMessage(fixture: MessageFixture) {
  return {
    data: encodeData(fixture.data),
    attributes: fixture.attributes ?? {},
    messageId: fixture.messageId ?? randomUUID(),
    publishTime: fixture.publishTime ?? new Date().toISOString(),
  };
}

/** Wrapped push body; `snake` uses the protobuf field names some senders still use. */
export function makePushBody(fixture: MessageFixture, options: { snake?: boolean; deliveryAttempt?: number } = {}): HttpFixture {
  const m = makeMessage(fixture);
  const message = options.snake ? { data: m.data, attributes: m.attributes, message_id: m.messageId, publish_time: m.publishTime } : m;
  return {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message,
      subscription: 'projects/local-project/subscriptions/telemetry-ingest',
      ...(options.deliveryAttempt ? { deliveryAttempt: options.deliveryAttempt } : {}),
    }),
  };
}

/** Unwrapped push with write-metadata: the payload is the body, metadata in headers. */
export function makeUnwrappedPush(fixture: MessageFixture): HttpFixture {
  const m = makeMessage(fixture);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-goog-pubsub-message-id': m.messageId,
    'x-goog-pubsub-publish-time': m.publishTime,
    'x-goog-pubsub-subscription-name': 'projects/local-project/subscriptions/telemetry-ingest',
  };
  for (const [k, v] of Object.entries(m.attributes)) headers[k.toLowerCase()] = v;
  return { headers, body: Buffer.from(m.data, 'base64').toString('utf8') };
}

const CE_SOURCE = '//pubsub.googleapis.com/projects/local-project/topics/telemetry';

/** Eventarc's binary-mode CloudEvent for a Pub/Sub message. */
export function makeBinaryCloudEvent(fixture: MessageFixture): HttpFixture {
  const m = makeMessage(fixture);
  return {
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-source': CE_SOURCE,
      'ce-id': m.messageId,
      'ce-time': m.publishTime,
    },
    body: JSON.stringify({ message: m, subscription: 'projects/local-project/subscriptions/eventarc-ingest' }),
  };
}

/** The same CloudEvent in structured mode. */
export function makeStructuredCloudEvent(fixture: MessageFixture): HttpFixture {
  const m = makeMessage(fixture);
  return {
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({
      specversion: '1.0',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      source: CE_SOURCE,
      id: m.messageId,
      time: m.publishTime,
      datacontenttype: 'application/json',
      data: { message: m, subscription: 'projects/local-project/subscriptions/eventarc-ingest' },
    }),
  };
}

/** POSTs a fixture and returns status and parsed JSON body (if any). */
export async function post(url: string, fixture: HttpFixture): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(url, { method: 'POST', headers: fixture.headers, body: fixture.body });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, body, headers: response.headers };
}
