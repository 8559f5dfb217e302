/** The replay request of rejected messages (schemas/lifecycle.ts); replay itself is test/replay.test.ts. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_REPLAY_LIMIT, MAX_REPLAY_LIMIT, ReplayRequest } from '../../schemas/lifecycle.ts';

describe('ReplayRequest', () => {
  it('defaults to a real replay of rows not yet replayed, a thousand at most', () => {
    expect(ReplayRequest.parse({})).toEqual({ dryRun: false, includeReplayed: false, limit: DEFAULT_REPLAY_LIMIT });
  });

  it('needs since before until, times with an offset, and a limit in range', () => {
    const paths = (value: unknown) => ReplayRequest.safeParse(value).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ since: '2026-11-27T10:00:00Z', until: '2026-11-27T09:00:00Z' })).toEqual(['until']);
    expect(paths({ since: '2026-11-27T10:00:00' })).toEqual(['since']);
    expect(paths({ limit: MAX_REPLAY_LIMIT + 1 })).toEqual(['limit']);
    expect(paths({ deviceId: '1bad' })).toEqual(['deviceId']);
  });
});
