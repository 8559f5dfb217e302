/** How the local Pub/Sub pushes: the body, what counts as an ack, and the backoff (local/pubsub/deliver.ts). */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { backoffMs, buildPushBody, isAckStatus, minRetryWindowMs, pushMessage } from '../../../local/pubsub/deliver.ts';
import { waitFor } from '../../support/net.ts';

describe('local Pub/Sub delivery', () => {
  it('acks exactly on 102, 200, 201, 202 and 204', () => {
    const acks = Array.from({ length: 500 }, (_, i) => i + 100).filter(isAckStatus);
    expect(acks).toEqual([102, 200, 201, 202, 204]);
  });

  it('computes jittered exponential backoff within bounds', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const base = Math.min(10_000, 100 * 2 ** (attempt - 1));
      const delay = backoffMs(attempt, 100, 10_000);
      expect(delay).toBeGreaterThanOrEqual(base * 0.75);
      expect(delay).toBeLessThanOrEqual(base * 1.25);
    }
  });

  it('spans the shortest retry window at the low end of every jittered wait', () => {
    // Waits before attempts 2..5: 100, 200, 400, 800 ms at 75 %.
    expect(minRetryWindowMs(100, 10_000, 5)).toBe(0.75 * (100 + 200 + 400 + 800));
    expect(minRetryWindowMs(100, 150, 4)).toBe(0.75 * (100 + 150 + 150));
    expect(minRetryWindowMs(100, 10_000, 1)).toBe(0);
  });

  it('writes the wrapped push body with both field spellings, as Pub/Sub sends it', () => {
    const message = { id: '7', topic: 'telemetry', data: 'eA==', attributes: { deviceId: 'd' }, publishTime: '2026-04-02T10:00:00.000Z', pending: ['s'] };
    expect(JSON.parse(buildPushBody(message, 'projects/p/subscriptions/s', 3))).toEqual({
      message: {
        data: 'eA==',
        attributes: { deviceId: 'd' },
        messageId: '7',
        message_id: '7',
        publishTime: message.publishTime,
        publish_time: message.publishTime,
      },
      subscription: 'projects/p/subscriptions/s',
      deliveryAttempt: 3,
    });
  });

  it('answers an endpoint it cannot reach over HTTP with a nack, never a rejection', async () => {
    for (const endpoint of ['https://ingest.example/push', 'not a url']) {
      await expect(pushMessage(endpoint, '{}', 1000)).resolves.toMatchObject({ acked: false, result: expect.stringMatching(/http only|Invalid URL/) });
    }
  });

  it('lets go of the connection of an endpoint that acked without reading the whole body', async () => {
    let socket: Socket | undefined;
    let closed = false;
    // Answers as soon as the headers arrive and never reads the 8 MB body.
    const server = createServer((req, res) => {
      socket = req.socket;
      req.socket.once('close', () => (closed = true));
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      await expect(pushMessage(url, 'x'.repeat(8 * 1024 * 1024), 5000)).resolves.toEqual({ acked: true, result: 204 });
      await waitFor(() => closed, { timeoutMs: 5000 });
      expect(socket?.destroyed).toBe(true);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
