/**
 * Serving the bridge against the official Pub/Sub emulator: a fresh topic with a pull
 * subscription whose messages are collected, and a device-side request helper.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import bridge from '../../functions/bridge/index.ts';
import type { Logger } from '../../shared/log.ts';
import type { Providers } from '../../shared/runtime/platform.ts';
import { startFunction, type ServedFunction } from './kit.ts';

export const TEST_PROJECT = 'test-project';

export interface BridgeUnderTest {
  served: ServedFunction;
  topic: string;
  /** Messages pulled back from the topic, by message id. */
  received: Map<string, Message>;
  /** State notifications (STATE_TOPIC) pulled back, by message id. */
  states: Map<string, Message>;
  close(): Promise<void>;
}

/** Points the Pub/Sub client at the emulator; must run before any client is created. */
export function useEmulator(): string {
  const host = inject('pubsubEmulatorHost');
  process.env.PUBSUB_EMULATOR_HOST = host;
  return host;
}

export async function startBridge(options: {
  databaseUrl: string;
  env?: Record<string, string>;
  providers?: Partial<Providers>;
  logger?: Logger;
}): Promise<BridgeUnderTest> {
  const emulatorHost = useEmulator();
  const topicName = `telemetry-${randomBytes(4).toString('hex')}`;
  const pubsub = new PubSub({ projectId: TEST_PROJECT });
  const [topic] = await pubsub.createTopic(topicName);
  const [subscription] = await topic.createSubscription(`${topicName}-pull`);
  const received = new Map<string, Message>();
  collect(subscription, received);
  const [stateTopic] = await pubsub.createTopic(`${topicName}-state`);
  const [stateSubscription] = await stateTopic.createSubscription(`${topicName}-state-pull`);
  const states = new Map<string, Message>();
  collect(stateSubscription, states);
  const served = await startFunction(bridge, {
    env: {
      DATABASE_URL: options.databaseUrl,
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT,
      PUBSUB_EMULATOR_HOST: emulatorHost,
      TELEMETRY_TOPIC: topicName,
      STATE_TOPIC: `${topicName}-state`,
      ...options.env,
    },
    ...(options.providers ? { providers: options.providers } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return {
    served,
    topic: topicName,
    received,
    states,
    async close() {
      await served.close();
      await subscription.close();
      await stateSubscription.close();
      await pubsub.close();
    },
  };
}

function collect(subscription: Subscription, into: Map<string, Message>): void {
  subscription.on('message', (message: Message) => {
    into.set(message.id, message);
    message.ack();
  });
  subscription.on('error', () => {
    // The subscription closes with the test; errors then are expected.
  });
}

export interface DeviceRequest {
  authorization?: string;
  contentType?: string | null;
  contentEncoding?: string;
  body: string | Buffer | unknown;
}

export interface DeviceResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs like a device: JSON-encodes non-string bodies, `application/json` unless told. */
export async function sendAsDevice(url: string, request: DeviceRequest): Promise<DeviceResponse> {
  const headers: Record<string, string> = {};
  if (request.contentType !== null) headers['content-type'] = request.contentType ?? 'application/json';
  if (request.authorization !== undefined) headers.authorization = request.authorization;
  if (request.contentEncoding !== undefined) headers['content-encoding'] = request.contentEncoding;
  const body = typeof request.body === 'string' || Buffer.isBuffer(request.body) ? request.body : JSON.stringify(request.body);
  const response = await fetch(url, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
