/** The stack's one-line request summary instead of a log line per request (local/stack/request-summary.ts). */
import { describe, expect, it } from 'vitest';
import { countRequest, formatSummary, summarizeRequests, type RequestCounts } from '../../../local/stack/request-summary.ts';
import { createLogger } from '../../../shared/log.ts';

describe('the request summary', () => {
  it('counts accepted, refused, stored and rejected requests and writes them as one line', () => {
    const counts: RequestCounts = { requests: 0, accepted: 0, readings: 0, refused: 0, stored: 0, rejected: 0, failed: 0 };
    countRequest(counts, { status: 202, outcome: 'accepted', readings: 3 });
    countRequest(counts, { status: 401, outcome: 'unauthenticated' });
    countRequest(counts, { status: 200, form: 'wrapped' });
    countRequest(counts, { status: 200, form: 'wrapped', reason: 'unknown_device' });
    countRequest(counts, { status: 503, form: 'wrapped' });
    countRequest(counts, { status: 200, path: '/v1/devices' });
    expect(counts).toEqual({ requests: 6, accepted: 1, readings: 3, refused: 1, stored: 1, rejected: 1, failed: 1 });
    expect(formatSummary(counts, 10)).toBe('6 requests in 10 s, accepted 1 (3 readings), refused 1, stored 1, rejected 1, 5xx 1');
  });

  it('passes every request line through at LOG_LEVEL=debug, and none at info', () => {
    for (const level of ['debug', 'info']) {
      const lines: string[] = [];
      const summary = summarizeRequests(createLogger({ level, sink: (l) => lines.push(l) }), { intervalMs: 60_000 });
      summary.logger.child({ trace: 't' }).info('request', { status: 202, outcome: 'accepted', readings: 1 });
      summary.logger.info('stack ready');
      summary.stop();
      const messages = lines.map((l) => (JSON.parse(l) as { message: string }).message);
      expect(messages, level).toEqual(
        level === 'debug' ? ['request', 'stack ready'] : ['stack ready', '1 requests in 60 s, accepted 1 (1 readings), refused 0, stored 0, rejected 0'],
      );
    }
  });
});
