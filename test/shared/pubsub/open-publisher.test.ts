/**
 * shared/pubsub/open-publisher.ts: the configuration alone chooses where a publish goes: the
 * local stack's broker when one is handed over, the official emulator when
 * PUBSUB_EMULATOR_HOST is configured (even though the process environment does not say so).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openLocalPubsub } from '../../../local/pubsub/broker.ts';
import { loadConfig } from '../../../shared/config.ts';
import { createLogger } from '../../../shared/log.ts';
import { openPublisher, publishTransport } from '../../../shared/pubsub/open-publisher.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it('publishes to the emulator that the configuration names', async () => {
  // Only the configuration may point the client at the emulator.
  delete process.env.PUBSUB_EMULATOR_HOST;
  const emulatorHost = inject('pubsubEmulatorHost');
  const projectId = `open-publisher-${randomBytes(3).toString('hex')}`;
  const admin = new PubSub({ projectId, apiEndpoint: `http://${emulatorHost}`, emulatorMode: true });
  cleanups.push(() => admin.close());
  const [topic] = await admin.createTopic('telemetry');
  const [subscription] = await topic.createSubscription('pulled');
  const received = new Promise<Message>((resolve) => subscription.once('message', resolve));
  cleanups.push(() => subscription.close());

  const publisher = await openPublisher(loadConfig({ GOOGLE_CLOUD_PROJECT: projectId, PUBSUB_EMULATOR_HOST: emulatorHost }));
  cleanups.push(() => publisher.close());
  const id = await publisher.publish('telemetry', Buffer.from('{"metrics":{"t":1}}'), { deviceId: 'd1' });

  const message = await received;
  message.ack();
  expect(message.id).toBe(id);
  expect(message.attributes).toEqual({ deviceId: 'd1' });
});

it('publishes to the local broker it is handed, and leaves closing it to its owner', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'open-publisher-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const broker = await openLocalPubsub({
    dir,
    projectId: 'local-project',
    topics: ['telemetry'],
    subscriptions: [{ name: 'held', topic: 'telemetry' }],
    logger: createLogger({ level: 'error' }),
  });
  cleanups.push(() => broker.close());

  // The emulator is configured too: a broker handed over wins.
  const publisher = await openPublisher(loadConfig({ PUBSUB_EMULATOR_HOST: '127.0.0.1:1' }), { localBroker: broker });
  await publisher.publish('telemetry', Buffer.from('{}'), {});
  await publisher.close();
  expect(broker.stats()).toMatchObject({ published: 1, backlog: 1 });
  await expect(broker.publish('telemetry', Buffer.from('{}'), {})).resolves.toBeTypeOf('string');
});

describe('which transport carries publishes to Google Pub/Sub', () => {
  it.each([
    { name: "nothing set: the project's own gRPC call", env: {}, expected: 'grpc' },
    { name: 'PUBSUB_PUBLISHER=client', env: { PUBSUB_PUBLISHER: 'client' }, expected: 'client' },
    { name: 'https_proxy set: the client, which grpc-js tunnels through it', env: { https_proxy: 'http://proxy.internal:3128' }, expected: 'client' },
    { name: 'http_proxy set', env: { http_proxy: 'http://proxy.internal:3128' }, expected: 'client' },
    { name: 'grpc_proxy set', env: { grpc_proxy: 'http://proxy.internal:3128' }, expected: 'client' },
    {
      name: 'only HTTPS_PROXY (upper case, which grpc-js does not read either): its own call',
      env: { HTTPS_PROXY: 'http://proxy.internal:3128' },
      expected: 'grpc',
    },
    {
      name: 'a proxy, but the emulator: its own call (the emulator is local)',
      env: { https_proxy: 'http://proxy.internal:3128', PUBSUB_EMULATOR_HOST: '127.0.0.1:8085' },
      expected: 'grpc',
    },
    { name: 'NO_PROXY alone', env: { NO_PROXY: '*' }, expected: 'grpc' },
  ])('$name', ({ env, expected }) => {
    expect(publishTransport(loadConfig(env))).toBe(expected);
  });
});
