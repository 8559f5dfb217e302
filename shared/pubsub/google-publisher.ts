/**
 * Publisher over @google-cloud/pubsub (real Pub/Sub, or the emulator when
 * PUBSUB_EMULATOR_HOST is set). The client is imported on first publish, never at start-up.
 * Publishes are batched for a millisecond; a publish that Pub/Sub does not acknowledge
 * within `timeoutMs` fails with TransientError, so that a device hears 503 in seconds rather
 * than after the client's default minute of retries.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { TransientError } from '../errors.ts';
import type { Publisher } from './publisher.ts';

export interface PubsubPublisherOptions {
  projectId: string;
  /** Upper bound for one publish, retries included. */
  timeoutMs?: number;
  /**
   * How long the client waits to fill a batch (default 1 ms). A device waits for the ack, so
   * the window is pure latency for it; under load batches fill from concurrent requests anyway
   * (measured by bench/bridge-throughput.ts: 1 ms outran 5 ms through the emulator).
   */
  batchMaxMs?: number;
  /** `host:port` of an emulator; else PUBSUB_EMULATOR_HOST, as the client reads it. */
  emulatorHost?: string;
}

export function createPubsubPublisher(options: PubsubPublisherOptions): Publisher {
  const timeoutMs = options.timeoutMs ?? 5_000;
  let client: Promise<PubSub> | undefined;
  const topics = new Map<string, Topic>();

  const getClient = () =>
    (client ??= import('@google-cloud/pubsub').then(({ PubSub }) => new PubSub({ projectId: options.projectId, ...(options.emulatorHost ? { apiEndpoint: `http://${options.emulatorHost}`, emulatorMode: true } : {}) })));

  const topicFor = async (name: string): Promise<Topic> => {
    let topic = topics.get(name);
    if (!topic) {
      topic = (await getClient()).topic(name, {
        batching: { maxMessages: 500, maxMilliseconds: options.batchMaxMs ?? 1, maxBytes: 4 * 1024 * 1024 },
        gaxOpts: {
          timeout: timeoutMs,
          retry: {
            retryCodes: [10, 1, 4, 13, 8, 14, 2],
            backoffSettings: {
              initialRetryDelayMillis: 50,
              retryDelayMultiplier: 2,
              maxRetryDelayMillis: 1_000,
              initialRpcTimeoutMillis: Math.min(2_000, timeoutMs),
              rpcTimeoutMultiplier: 1,
              maxRpcTimeoutMillis: Math.min(2_000, timeoutMs),
              totalTimeoutMillis: timeoutMs,
            },
          },
        },
      });
      topics.set(name, topic);
    }
    return topic;
  };

  return {
    async publish(topicName, data, attributes) {
      const topic = await topicFor(topicName);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TransientError(`Pub/Sub did not acknowledge within ${timeoutMs} ms`)), timeoutMs + 250);
      });
      try {
        return await Promise.race([topic.publishMessage({ data, attributes }), deadline]);
      } catch (error) {
        if (error instanceof TransientError) throw error;
        throw new TransientError('Pub/Sub publish failed', { cause: error });
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await Promise.allSettled([...topics.values()].map((t) => t.flush()));
      if (client) await (await client).close();
    },
  };
}
