/**
 * Publishing to a topic, behind one interface: @google-cloud/pubsub (real Pub/Sub or the
 * emulator) or the in-process Pub/Sub of the local stack.
 */
export interface Publisher {
  /** Resolves with the message id once the service has acknowledged the publish. */
  publish(topic: string, data: Buffer, attributes: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}
