/**
 * What the batching publisher (google-publisher.ts) needs of a connection to Pub/Sub, whichever
 * carries it: the project's own gRPC call over `node:http2` (grpc-connection.ts) or
 * @google-cloud/pubsub's generated client.
 */
import type { OutgoingMessage } from './publish-wire.ts';

export interface PublishConnection {
  /** One Publish request; resolves with the message ids in the order of `messages`. */
  publish(topic: string, messages: OutgoingMessage[], timeoutMs: number): Promise<string[]>;
  /** False once it cannot carry another request (it went away, or was found dead): the next batch connects afresh. */
  readonly usable: boolean;
  close(): Promise<void>;
}

/** gRPC codes worth another attempt within the deadline: the generated client's defaults for Publish, plus UNKNOWN. */
const RETRYABLE_STATUSES = new Set([10, 1, 4, 13, 8, 14, 2]);

/** One attempt failed with a gRPC status; whether another attempt may succeed follows from it. */
export class PublishAttemptError extends Error {
  override readonly name: string = 'PublishAttemptError';
  readonly grpcStatus: number;
  constructor(message: string, grpcStatus: number, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.grpcStatus = grpcStatus;
  }

  get retryable(): boolean {
    return RETRYABLE_STATUSES.has(this.grpcStatus);
  }
}
